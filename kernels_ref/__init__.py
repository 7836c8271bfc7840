"""kernels_ref: what every number format means, bit-exact.

- `formats`   Format (parse, widths, bits_per_weight), FP ExMy value tables, NF4 and BitMoD
              codebooks as numpy; imports no torch (the cost path reads only this)
- `quant`     quantize/dequantize, pack/unpack, the FP codec on torch tensors
- `bitserial` two's-complement digit-plane GEMM (serial weights / activations / both)
- `lut`       T-MAC / LUT Tensor Core / bitnet.cpp TL1-TL2 table-lookup GEMM
- `binary`    AND/XNOR-popcount GEMM, ABQ-LLM WxAy, DB-LLM dual binarisation, binary conv
- `dense`, `verify`  dense reference kernels and the verification harness
- `registry`  the RefKernel contract; `errors` the typed errors

Submodules are imported explicitly (`from lowbit.kernels_ref.formats import Format`);
importing the package itself loads nothing heavy.
"""

__all__: list[str] = []
