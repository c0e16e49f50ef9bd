#!/usr/bin/python3
"""tools/check_torch_interop.py - load a nabla-written state dict into PyTorch.

Owns: the manual PyTorch-side check of nabla's safetensors files (the C
tests cannot run torch). It builds the interop model of
tools/fixtures/gen_state.py, Sequential(Linear(4, 8), ReLU, Linear(8, 3)),
loads FILE into it with load_state_dict(strict=True), runs the input x of
tests/fixtures/state.txt case "mlp" and prints the outputs. Given nabla's
outputs for the same input (EXPECTED, whitespace-separated numbers), it
compares them and exits 1 on a mismatch.

    NB_INTEROP_DIR=/tmp/i build/tests/nn_test_state_dict --filter 'state_dict/writes*'
    /usr/bin/python3 tools/check_torch_interop.py /tmp/i/nabla_mlp.safetensors /tmp/i/nabla_mlp_out.txt

Uses the safetensors package when installed, else the reader in
tools/fixtures/gen_state.py. Needs Debian's python3-torch (/usr/bin/python3).
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "fixtures"))

import gen_state  # noqa: E402


def load_file(path):
    try:
        from safetensors.torch import load_file as st_load
        return st_load(str(path)), "safetensors package"
    except ImportError:
        tensors, _ = gen_state.load_safetensors(path)
        return tensors, "tools/fixtures/gen_state.py reader"


def fixture_input():
    """Tensor x of case "mlp" in tests/fixtures/state.txt."""
    in_case = False
    for line in (ROOT / "tests" / "fixtures" / "state.txt").read_text().splitlines():
        words = line.split()
        if words[:2] == ["case", "mlp"]:
            in_case = True
        elif in_case and words[:2] == ["tensor", "x"]:
            ndim = int(words[3])
            shape = [int(s) for s in words[4:4 + ndim]]
            values = [float(v) for v in words[5 + ndim:]]
            return torch.tensor(values, dtype=torch.float32).reshape(shape)
    raise SystemExit("tests/fixtures/state.txt has no tensor x in case mlp")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="a safetensors file written by nb_module_save")
    parser.add_argument("expected", nargs="?", help="nabla's outputs for the fixture input")
    parser.add_argument("--rtol", type=float, default=1.3e-6)
    parser.add_argument("--atol", type=float, default=1e-5)
    args = parser.parse_args()

    state, how = load_file(args.file)
    print(f"read {len(state)} tensors with the {how}:")
    for name, t in state.items():
        print(f"  {name}: {t.dtype} {list(t.shape)}")
    model = gen_state.mlp()
    result = model.load_state_dict(state, strict=True)
    print(f"load_state_dict(strict=True): {result}")
    with torch.no_grad():
        y = model(fixture_input())
    torch.set_printoptions(precision=9)
    print("PyTorch's outputs:")
    print(y)
    if args.expected:
        values = [float(v) for v in Path(args.expected).read_text().split()]
        want = torch.tensor(values, dtype=torch.float32).reshape(y.shape)
        diff = (y - want).abs().max().item()
        ok = torch.allclose(y, want, rtol=args.rtol, atol=args.atol)
        print(f"max |torch - nabla| = {diff:.3g}: {'OK' if ok else 'MISMATCH'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
