# @{ header }@
# The clock of inq_axi: @{ clock_mhz }@ MHz (the design's --clock-mhz).
create_clock -name aclk -period @{ period_ns }@ [get_ports aclk]
