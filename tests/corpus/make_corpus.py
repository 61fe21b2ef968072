#!/usr/bin/env python3
"""Writes the malformed-file corpus of tests/test_corpus.c into tests/corpus/.

Usage: python3 tests/corpus/make_corpus.py VALID_MODEL.dsbi
The model files are damaged copies of a small valid model (any diffsbi model
file; `make fuzz-build` writes one to build/fuzz/seeds/model/tiny.dsbi); the
CSV and NPY files are written from scratch. Each file holds one defect, and
test_corpus.c lists the message it must produce.
"""
import json, struct, sys, zlib, os

out = os.path.dirname(os.path.abspath(__file__))
def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

model = open(sys.argv[1], "rb").read()
hl = struct.unpack("<Q", model[:8])[0]
hdr = model[8:8 + hl]
data = model[8 + hl:]
meta = json.loads(hdr)

def with_header(h, d):
    b = json.dumps(h, separators=(",", ":")).encode()
    b += b" " * ((8 - len(b) % 8) % 8)
    return struct.pack("<Q", len(b)) + b + d

# models
put("model_short.dsbi", model[:5])
put("model_truncated.dsbi", model[: 8 + hl + len(data) // 2])
put("model_huge_header.dsbi", struct.pack("<Q", 1 << 40) + model[8:])
bad = bytearray(model); bad[8 + 1] = ord("}")  # breaks the JSON
put("model_bad_json.dsbi", bytes(bad))
h = json.loads(hdr); h["__metadata__"]["format_version"] = "2"
put("model_wrong_version.dsbi", with_header(h, data))
h = json.loads(hdr); del h["__metadata__"]["format"]
put("model_not_diffsbi.dsbi", with_header(h, data))
d = bytearray(data); d[len(d) // 3] ^= 0x40
put("model_crc_mismatch.dsbi", with_header(json.loads(hdr), bytes(d)))
# NaN standardization with a matching CRC: only the standardization check can catch it
h = json.loads(hdr); off = h["theta_std"]["data_offsets"][0]
d = bytearray(data); d[off:off + 4] = struct.pack("<f", float("nan"))
h["__metadata__"]["crc32"] = "%08x" % (zlib.crc32(bytes(d)) & 0xFFFFFFFF)
put("model_nan_std.dsbi", with_header(h, bytes(d)))
h = json.loads(hdr); h["x_mean"]["data_offsets"] = [0, 1 << 40]
put("model_bad_offsets.dsbi", with_header(h, data))

# CSV
put("csv_bad_cell.csv", b"a,b\n1,2\n3,x7\n")
put("csv_ragged_short.csv", b"a,b,c\n1,2,3\n4,5\n")
put("csv_ragged_long.csv", b"a,b\n1,2\n3,4,5\n")
put("csv_empty.csv", b"")
put("csv_empty_header.csv", b"\n1,2\n")
put("csv_nul.csv", b"a,b\n1,2\n3,\x00\n")
put("csv_quoted_number.csv", b"a,b\n1,2\n\"3\",4\n")

# NPY
def npy(d, body=b"", magic=b"\x93NUMPY", ver=1):
    s = repr(d).encode()
    s += b" " * ((64 - (10 + len(s) + 1) % 64) % 64) + b"\n"
    return magic + bytes([ver, 0]) + struct.pack("<H", len(s)) + s + body
f4 = struct.pack("<4f", 1, 2, 3, 4)
put("npy_bad_magic.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}, f4, magic=b"\x93NUMPX"))
put("npy_bad_dtype.npy", npy({"descr": "<i4", "fortran_order": False, "shape": (2, 2)}, f4))
put("npy_bad_shape.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (1, 2, 2)}, f4))
put("npy_truncated.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}, f4[:10]))
put("npy_huge_shape.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (1 << 40, 2)}, f4))
put("npy_fortran.npy", npy({"descr": "<f4", "fortran_order": True, "shape": (2, 2)}, f4))
put("npy_bad_version.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (2, 2)}, f4, ver=9))
put("npy_negative_shape.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (-1, 2)}, f4))

# --guide expressions (one per file, no trailing newline), parsed with the
# parameter names of inverse_kinematics (h a1 a2 a3, theta_1..theta_4)
put("guide_unexpected_end.expr", b"sin(a1) >= ")
put("guide_empty.expr", b"")
put("guide_unclosed_paren.expr", b"(a1 + a2 <= 1")
put("guide_unclosed_call.expr", b"sqrt(a1 <= 2")
put("guide_unknown_name.expr", b"a4 + 1 <= 0")
put("guide_theta_out_of_range.expr", b"h <= theta_5")
put("guide_unknown_function.expr", b"2 * sinh(a1) <= 0")
put("guide_no_comparison.expr", b"a1 + a2")
put("guide_trailing_text.expr", b"a1 <= 1 a2")
put("guide_two_comparisons.expr", b"a1 <= a2 <= a3")
put("guide_double_operator.expr", b"a1 * / 2 <= 0")
put("guide_bad_operator.expr", b"a1 % 2 <= 0")
put("guide_malformed_number.expr", b"a1 <= .")
put("guide_empty_parens.expr", b"() <= 1")
put("guide_power_without_exponent.expr", b"a1 ^ <= 2")
put("guide_non_ascii.expr", "h <= \u03b11".encode())
