# @{ header }@
# Creates a Vivado project around inq_axi (board/axi/inq_axi.v) from this design folder. inq does
# not run it (Vivado is not part of the open toolchain this project is tested with): it is
# written for users with a Vivado installation, untested here (docs/user-guide.md, "AXI top").
# From the design folder:
#   vivado -mode batch -source board/axi/vivado.tcl [-tclargs PART]
# (default part xc7z020clg400-1: a Zynq-7020, e.g. PYNQ-Z2), then open vivado/inq_axi.xpr.
set here [file normalize [file dirname [info script]]]
set root [file normalize "$here/../.."]
set part "xc7z020clg400-1"
if {$argc > 0} { set part [lindex $argv 0] }
create_project inq_axi "$root/vivado" -part $part -force
add_files -norecurse [list \
@% for f in rtl_files %@  "$root/@{ f }@" \
@% endfor %@  "$root/board/axi/inq_axi.v"]
@% if !hex_files.is_empty() %@# memory images: $readmemh names them without a folder
add_files -norecurse [list \
@% for f in hex_files %@  "$root/@{ f }@" \
@% endfor %@]
set_property file_type {Memory Initialization Files} [get_files -filter {FILE_TYPE != "Verilog"} *.hex]
@% endif %@add_files -fileset constrs_1 -norecurse "$here/inq_axi.xdc"
set_property top inq_axi [current_fileset]
update_compile_order -fileset sources_1
puts "created $root/vivado/inq_axi.xpr (part $part); synthesis: launch_runs synth_1 -jobs 2"
