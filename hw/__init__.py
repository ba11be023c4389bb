"""hw: EIE's RTL in Amaranth 0.5: the PE, the LNZD tree, the PE array, its memory images, the
Verilog export and FPGA synthesis estimates (Yosys, nextpnr).

It is checked against the simulator bit for bit and cycle for cycle by the cocotb testbenches
in tests/hw/. May import arch (its tiling, encoding and arithmetic), numpy and amaranth. Never
sim: both implement the contracts of arch/ and the tests compare them.
"""
