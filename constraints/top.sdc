# @{ header }@
# Timing constraints for inq_top (SDC). Clock: @{ clock_mhz }@ MHz.
create_clock -name clk -period @{ period_ns }@ [get_ports clk]
set_input_delay  -clock clk 0.0 [get_ports {rst s_axis_tdata[*] s_axis_tvalid s_axis_tlast m_axis_tready}]
set_output_delay -clock clk 0.0 [get_ports {s_axis_tready m_axis_tdata[*] m_axis_tvalid m_axis_tlast m_axis_tuser[*]}]
