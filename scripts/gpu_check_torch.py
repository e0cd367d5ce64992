#!/usr/bin/env python3
"""The Python half of scripts/gpu-check.sh: PyTorch's side of the comparison with sluice.

  compare --file F.safetensors --out R.json [--backend torch|numpy]
      Loads the LSTM cases node wrote (weights, inputs and sluice's outputs; the safetensors format is parsed
      here with struct, so the safetensors package is not needed), runs them through torch.nn.LSTM on the GPU
      (cuDNN, TF32 off) or through a float64 numpy LSTM, and writes each case's largest absolute difference.
  bench --configs C.json --out R.json [--quick]
      PyTorch's timings on this GPU for the same shapes and protocol as sluice's (host input in, host output
      out), batched sequences and per-key state steps.

Every failure raises: the exit status is non-zero and the reason is printed. Nothing is silently skipped.
"""
import argparse
import json
import math
import struct
import sys
import time

DTYPES = {"F32": ("<f4", 4), "F64": ("<f8", 8), "U32": ("<u4", 4), "I32": ("<i4", 4)}


def parse_safetensors(data):
    """Returns ({name: (dtype, shape, memoryview)}, metadata dict). Checks every length and offset."""
    if len(data) < 8:
        raise ValueError("safetensors: file shorter than its 8-byte header length")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > len(data) - 8:
        raise ValueError("safetensors: header length %d exceeds the file (%d bytes)" % (header_length, len(data)))
    header = json.loads(bytes(data[8 : 8 + header_length]).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("safetensors: the header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + header_length :]
    tensors = {}
    for name, info in header.items():
        dtype = info.get("dtype")
        if dtype not in DTYPES:
            raise ValueError("safetensors: %s has unsupported dtype %r" % (name, dtype))
        shape = info.get("shape")
        if not isinstance(shape, list) or any((not isinstance(d, int)) or d < 0 for d in shape):
            raise ValueError("safetensors: %s has a bad shape %r" % (name, shape))
        begin, end = info.get("data_offsets", [None, None])
        count = math.prod(shape)
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(body)):
            raise ValueError("safetensors: %s has data offsets %r outside the data (%d bytes)" % (name, [begin, end], len(body)))
        if end - begin != count * DTYPES[dtype][1]:
            raise ValueError("safetensors: %s holds %d bytes, its shape %r needs %d" % (name, end - begin, shape, count * DTYPES[dtype][1]))
        tensors[name] = (dtype, shape, body[begin:end])
    return tensors, metadata


def load_safetensors(path):
    with open(path, "rb") as f:
        return parse_safetensors(f.read())


def to_numpy(entry):
    import numpy as np

    dtype, shape, raw = entry
    return np.frombuffer(raw, dtype=DTYPES[dtype][0]).reshape(shape)


def to_torch(entry, device):
    import torch

    dtype, shape, raw = entry
    torch_dtype = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32}[dtype]
    return torch.frombuffer(bytearray(raw), dtype=torch_dtype).reshape(shape).to(device)


def case_weights(tensors, case):
    prefix = case["name"] + "."
    layers = []
    for l in range(case["layers"]):
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        layers.append({n: tensors[prefix + "%s_l%d" % (n, l)] for n in names})
    head = None
    if case.get("outputs"):
        head = {"weight": tensors[prefix + "head.weight"], "bias": tensors[prefix + "head.bias"]}
    return layers, head


def numpy_lstm(tensors, case):
    """float64 LSTM, PyTorch's equations and gate order (i, f, g, o): the check of the loader itself."""
    import numpy as np

    layers, head = case_weights(tensors, case)
    x = to_numpy(tensors[case["name"] + ".x"]).astype(np.float64)  # [T][B][I]
    steps, batch, hidden = case["steps"], case["batch"], case["hidden"]
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    seq = x
    for layer in layers:
        w_ih, w_hh = to_numpy(layer["weight_ih"]).astype(np.float64), to_numpy(layer["weight_hh"]).astype(np.float64)
        b = to_numpy(layer["bias_ih"]).astype(np.float64) + to_numpy(layer["bias_hh"]).astype(np.float64)
        h = np.zeros((batch, hidden))
        c = np.zeros((batch, hidden))
        out = np.zeros((steps, batch, hidden))
        for t in range(steps):
            gates = seq[t] @ w_ih.T + h @ w_hh.T + b
            i, f, g, o = np.split(gates, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            out[t] = h
        seq = out
    if head is not None:
        seq = seq @ to_numpy(head["weight"]).astype(np.float64).T + to_numpy(head["bias"]).astype(np.float64)
    return seq


def torch_setup():
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False: PyTorch sees no GPU")
    # Plain FP32 like sluice (CUDNN_FMA_MATH): TF32 would differ by ~1e-3.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.enabled = True
    return torch


def torch_lstm_module(torch, tensors, case, device):
    layers, head = case_weights(tensors, case)
    lstm = torch.nn.LSTM(case["input"], case["hidden"], num_layers=case["layers"]).to(device)
    with torch.no_grad():
        for l, layer in enumerate(layers):
            for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
                getattr(lstm, "%s_l%d" % (n, l)).copy_(to_torch(layer[n], device))
    linear = None
    if head is not None:
        linear = torch.nn.Linear(case["hidden"], case["outputs"]).to(device)
        with torch.no_grad():
            linear.weight.copy_(to_torch(head["weight"], device))
            linear.bias.copy_(to_torch(head["bias"], device))
    lstm.flatten_parameters()
    return lstm, linear


def compare(args):
    tensors, metadata = load_safetensors(args.file)
    cases = json.loads(metadata["cases"])
    results = []
    torch = torch_setup() if args.backend == "torch" else None
    for case in cases:
        expected_entry = tensors[case["name"] + ".sluice"]
        if args.backend == "numpy":
            import numpy as np

            ours = numpy_lstm(tensors, case)
            error = float(np.max(np.abs(ours - to_numpy(expected_entry).astype(np.float64))))
        else:
            lstm, linear = torch_lstm_module(torch, tensors, case, "cuda")
            with torch.no_grad():
                y, _ = lstm(to_torch(tensors[case["name"] + ".x"], "cuda"))
                if linear is not None:
                    y = linear(y)
            error = float((y.double().cpu() - to_torch(expected_entry, "cpu").double()).abs().max())
        results.append({"name": case["name"], "maxAbsError": error})
        print("  %s (%s): max |sluice - %s| = %.3g" % (case["name"], case["shape"], args.backend, error), flush=True)
    info = {"backend": args.backend, "cases": results}
    if torch is not None:
        info["torch"] = torch.__version__
        info["cudnn"] = torch.backends.cudnn.version()
        info["device"] = torch.cuda.get_device_name(0)
    with open(args.out, "w") as f:
        json.dump(info, f)


def timed(torch, fn, target_seconds, max_calls):
    """Mean seconds per call of fn over at least target_seconds (after warm-up), synchronised."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= target_seconds or calls >= max_calls:
            return elapsed / calls


def bench(args):
    torch = torch_setup()
    with open(args.configs) as f:
        configs = json.load(f)
    target = 0.25 if args.quick else 1.0
    results = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name(0),
               "sequences": [], "stateful": [], "latency": None}
    generator = torch.Generator().manual_seed(7)
    for c in configs["sequences"]:
        lstm = torch.nn.LSTM(c["inputSize"], c["hiddenSize"]).cuda().eval()
        x = torch.rand(c["steps"], c["batch"], c["inputSize"], generator=generator)
        x_device = x.cuda()

        def host_to_host():
            with torch.no_grad():
                y, _ = lstm(x.cuda(non_blocking=False))
                return y[-1].cpu()  # the last step, like sluice's default output

        def on_device():
            with torch.no_grad():
                y, _ = lstm(x_device)
            torch.cuda.synchronize()

        seconds = timed(torch, host_to_host, target, 5000)
        device_seconds = timed(torch, on_device, target, 5000)
        results["sequences"].append({**c, "seconds": seconds, "deviceSeconds": device_seconds})
        print("  torch %s: %.4f ms per call (%.4f ms on device)" % (c["label"], seconds * 1e3, device_seconds * 1e3), flush=True)

    def make_step(c):
        keys_total, n = c["capacity"], c["keys"]
        lstm = torch.nn.LSTM(c["inputSize"], c["hiddenSize"]).cuda().eval()
        table = torch.zeros(keys_total, 2, c["hiddenSize"], device="cuda")  # per key: h, c
        keys = torch.randperm(keys_total, generator=generator)[:n].to(torch.int64)
        x = torch.rand(n, c["inputSize"], generator=generator)

        def step():
            with torch.no_grad():
                k = keys.cuda()
                state = table.index_select(0, k)  # gather [n][2][H]
                h0 = state[:, 0].unsqueeze(0).contiguous()
                c0 = state[:, 1].unsqueeze(0).contiguous()
                y, (h1, c1) = lstm(x.cuda().unsqueeze(0), (h0, c0))
                table.index_copy_(0, k, torch.stack((h1[0], c1[0]), dim=1))  # scatter
                return y[0].cpu()

        return step

    for c in configs["stateful"]:
        seconds = timed(torch, make_step(c), target, 5000)
        results["stateful"].append({**c, "seconds": seconds})
        print("  torch %s: %.4f ms per step" % (c["label"], seconds * 1e3), flush=True)

    c = configs["latency"]
    step = make_step(c)
    for _ in range(10):
        step()
    samples = []
    for _ in range(c["calls"] // (4 if args.quick else 1)):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    results["latency"] = {**c, "p50": pick(0.5), "p99": pick(0.99)}
    print("  torch %s: p50 %.4f ms, p99 %.4f ms" % (c["label"], pick(0.5) * 1e3, pick(0.99) * 1e3), flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    p = sub.add_parser("bench")
    p.add_argument("--configs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    {"compare": compare, "bench": bench}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
