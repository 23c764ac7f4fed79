#!/usr/bin/env python3
"""Cycles of the CMSIS-NN inner loops in kernels.c on a Cortex-M4, by llvm-mca.

Compiles kernels.c with arm-none-eabi-gcc (-Os and -O2), cuts each "@ MCA-BEGIN name" ..
"@ MCA-END name" region plus the loop control that follows it (up to the next branch), removes
any nested region from an outer one, and times each straight-line body with
llvm-mca -mcpu=cortex-m4 (steady state: total cycles / iterations; a call counts 4 cycles,
M4 TRM BL = 1 + pipeline refill, its callee is added separately). Out-of-line paths of the
requantization (the rarely taken saturation / rounding branches) are not followed.
Prints one line per region: name, instructions, cycles per iteration, per optimization level.
"""
import re
import subprocess
import sys
import tempfile

GCC = ["arm-none-eabi-gcc", "-ffreestanding", "-mcpu=cortex-m4", "-mthumb",
       "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16", "-S", "-o", "-"]
MCA = ["llvm-mca", "-mtriple=thumbv7em-none-eabi", "-mcpu=cortex-m4", "-iterations=200"]
NESTED = {"pw_block": ["pw_mac"], "dw_group": ["dw_mac", "dw_tail"],
          "cv_block": ["cv_mac"], "fc_row": ["fc_mac"]}
BRANCH = re.compile(r"^(b|bne|beq|bgt|bge|blt|ble|bhi|bls|bcs|bcc|cbz|cbnz|bx)(\.[nw])?\s")


def instructions(asm):
    out = []
    for raw in asm.splitlines():
        line = raw.split("@ unaligned")[0].rstrip()
        s = line.strip()
        if "MCA-" in s:
            out.append(s.lstrip("@ ").strip())
            continue
        if not s or s.startswith(("@", ".", "#")) or s.endswith(":"):
            continue
        out.append(s)
    return out


def region(ins, name):
    """Body of region `name` plus trailing loop control, with nested regions cut out."""
    b = ins.index(f"MCA-BEGIN {name}")
    e = ins.index(f"MCA-END {name}")
    body = ins[b + 1:e]
    tail = []
    for s in ins[e + 1:]:
        if s.startswith("MCA-"):
            continue
        tail.append(s)
        if BRANCH.match(s):
            break
    for inner in NESTED.get(name, []):
        if f"MCA-BEGIN {inner}" not in body:
            continue  # the inner loop is laid out outside the outer region
        ib = body.index(f"MCA-BEGIN {inner}")
        ie = body.index(f"MCA-END {inner}")
        j = ie + 1
        while j < len(body) and not BRANCH.match(body[j]) and not body[j].startswith("MCA-"):
            j += 1
        body = body[:ib] + body[j + 1:]
    body = [s for s in body + tail if not s.startswith("MCA-")]
    # Branch targets are irrelevant to the timing; give llvm-mca a defined label.
    return [re.sub(r"\.L\d+", "0f", s) if BRANCH.match(s) else s for s in body]


def mca(lines):
    with tempfile.NamedTemporaryFile("w", suffix=".s") as f:
        f.write("\t.syntax unified\n\t.thumb\n0:\n" + "\n".join("\t" + s for s in lines) + "\n")
        f.flush()
        out = subprocess.run(MCA + [f.name], capture_output=True, text=True, check=True).stdout
    it = int(re.search(r"Iterations:\s+(\d+)", out).group(1))
    total = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    return total / it


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "kernels.c"
    names = ["requantize", "pw_mac", "pw_block", "pw_offset_sum", "dw_mac", "dw_tail", "dw_group",
             "im2col4", "cv_mac", "cv_block", "cv_tap", "fc_mac", "fc_row"]
    for opt in ["-Os", "-O2"]:
        asm = subprocess.run(GCC + [opt, src], capture_output=True, text=True, check=True).stdout
        ins = instructions(asm)
        rq = 0.0
        for n in names:
            body = region(ins, n)
            calls = sum(1 for s in body if re.match(r"bl\s+requantize", s))
            # llvm-mca 14 counts 100 cycles per call (no -call-latency option): count 4 instead.
            bls = sum(1 for s in body if re.match(r"bl\s", s))
            cycles = mca(body) - bls * (100 - 4) + calls * rq
            if n == "requantize":
                rq = cycles
            note = f" (incl. {calls} out-of-line requantize calls)" if calls else ""
            print(f"{opt} {n:<14} {len(body):>4} instructions {cycles:>8.2f} cycles{note}")


if __name__ == "__main__":
    main()
