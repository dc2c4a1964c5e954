"""Which bfloat16 instruction sets a CPU announces, read from a cpuinfo file."""

from labeler.bench.train_bench import cpu_bf16_flags


def test_bf16_flags_come_from_the_cpuinfo_flags_lines(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile "
                       "amx_bf16\nmodel name\t: amx_bf16 in a name is not a flag\n")
    assert cpu_bf16_flags(cpuinfo) == ["amx_bf16", "avx512_bf16"]
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2\n")
    assert cpu_bf16_flags(cpuinfo) == []
    assert cpu_bf16_flags(tmp_path / "absent") == []
