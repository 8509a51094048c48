#!/usr/bin/env python3
"""Round-trips every dtype the installed torch has through the store's tensor
format (mooncake/tensor_ops.py: _encode, then _decode of the stored bytes)
and compares the bytes, on the CPU and, where there is one, a CUDA device.

It needs torch but not the native extension: without ``mooncake._store``
(another Python, a machine where the package is not built) a stand-in with
the two error codes the codec uses is put in its place. That is how it runs
on a GPU machine with torch 2.x, which Debian's torch 1.13 cannot show.

    python3 scripts/check_tensor_codec.py [path/to/python]   # exit 1 on a mismatch
"""

import ctypes
import importlib
import os
import sys
import types


def load_tensor_ops(python_dir):
    sys.path.insert(0, python_dir)
    try:
        importlib.import_module("mooncake._store")
        stand_in = False
    except ImportError:
        native = types.ModuleType("mooncake._store")
        native._error_codes = [("OBJECT_NOT_FOUND", -704), ("INVALID_PARAMS", -600)]
        sys.modules["mooncake._store"] = native
        stand_in = True
    return importlib.import_module("mooncake.tensor_ops"), stand_in


def samples(torch, dtype, device):
    """Tensors of `dtype` on `device`: plain, empty, 0-d, a transposed view
    and, where they apply, conjugate and negative views."""
    if dtype == torch.bool:
        base = torch.rand(5, 7, device=device) > 0.5
    elif dtype.is_floating_point or dtype.is_complex:
        source = torch.randn(5, 7, device=device, dtype=torch.float32) * 3
        try:
            base = source.to(dtype)
        except (RuntimeError, TypeError):
            # A dtype without conversions (e.g. float8_e8m0fnu on some builds):
            # take bit patterns instead.
            raw = torch.randint(0, 256, (5, 7 * torch.empty((), dtype=dtype).element_size()),
                                dtype=torch.uint8, device=device)
            base = raw.view(dtype)
    else:
        info = torch.iinfo(dtype) if hasattr(torch, "iinfo") else None
        high = min(int(info.max), 1 << 30) if info is not None else 100
        base = torch.randint(0, high, (5, 7), device=device, dtype=torch.int64).to(dtype)
    yield "plain", base
    yield "empty", base[:0]
    yield "scalar", base[0, 0].clone()
    yield "transposed", base.t()
    if dtype.is_complex:
        yield "conjugate", base.conj()
    if dtype.is_floating_point or dtype.is_complex:
        try:
            yield "negative", base.conj().imag if dtype.is_complex else -base
        except RuntimeError:
            pass


def as_bytes(torch, tensor):
    data = tensor.detach()
    for resolve in ("resolve_conj", "resolve_neg"):
        if hasattr(data, resolve):
            data = getattr(data, resolve)()
    data = data.to("cpu").contiguous()
    return bytes(data.reshape(-1).view(torch.uint8).numpy()) if data.numel() else b""


def main():
    python_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "python")
    tensor_ops, stand_in = load_tensor_ops(python_dir)
    torch = tensor_ops._torch_module()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, numpy {__import__('numpy').__version__}, python "
          f"{sys.version.split()[0]}, devices {devices}, native extension "
          f"{'absent (stand-in)' if stand_in else 'present'}")
    checked, failures = 0, []
    for name in tensor_ops._DTYPE_NAMES:
        dtype = getattr(torch, name, None)
        if dtype is None:
            print(f"  {name}: not in this torch")
            continue
        for device in devices:
            for kind, tensor in samples(torch, dtype, device):
                label = f"{name}/{device}/{kind}"
                try:
                    encoded = tensor_ops._encode(tensor)
                    if encoded is None:
                        failures.append(f"{label}: refused")
                        continue
                    header, raw = encoded
                    stored = bytes(header) + bytes(raw)
                    back = tensor_ops._decode(stored, copy=True)
                    if back is None or back.dtype != tensor.dtype or list(back.shape) != list(tensor.shape):
                        failures.append(f"{label}: decoded {None if back is None else back.dtype}"
                                        f" {None if back is None else list(back.shape)}")
                    elif as_bytes(torch, back) != as_bytes(torch, tensor):
                        failures.append(f"{label}: bytes differ")
                    # get_tensor_into decodes in place from registered memory.
                    memory = (ctypes.c_uint8 * len(stored)).from_buffer_copy(stored)
                    in_place = tensor_ops._decode_in_place(ctypes.addressof(memory), len(stored))
                    if in_place is None or as_bytes(torch, in_place) != as_bytes(torch, tensor):
                        failures.append(f"{label}: in-place decode differs")
                    checked += 1
                except Exception as error:  # report every dtype, not the first
                    failures.append(f"{label}: {type(error).__name__}: {error}")
    # What the codec must refuse (INVALID_PARAMS upstream) rather than raise on.
    refused = {
        "not a tensor": [1, 2, 3],
        "sparse": torch.eye(3).to_sparse(),
        "meta": torch.empty(3, device="meta"),
    }
    for label, value in refused.items():
        if tensor_ops._encode(value) is not None:
            failures.append(f"{label}: accepted")
    for line in failures:
        print("  FAIL " + line)
    print(f"{checked} round trips, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
