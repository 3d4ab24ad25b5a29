"""Peer engines for the camoe comparison (benches/peers/run.sh).

    python peers.py build  DUMP MODELS     # ONNX (fp32, ORT dynamic int8) and TFLite
                                           # (fp32, dynamic-range int8, full int8)
    python peers.py parity DUMP MODELS     # every peer against camoe's f32 pCTRs
    python peers.py time   DUMP MODELS LABEL [--seconds S] [--batches 1,10]
    python peers.py amx-probe              # can this process get AMX tile permission?
    python peers.py camoe-bench LABEL REPORT.json [--kernels]
                                           # camoe's rows of timings.csv (or its kernels
                                           # line) from a `camoe-bench --json` report

DUMP is the directory written by `cargo run --release --example peers-dump`: the
float weights as .npy, config.json, the sample requests encoded as embedding rows
(categorical, 0 = missing) and normalized dense values, and camoe's pCTRs.

Every peer model computes the forward pass of docs/FORMAT.md on a batch of B rows
(B = number of candidates): one input per field in x0 order (categorical: row indices,
dense: normalized value), request fields tiled to B rows as an exported model would
receive them, plus the candidate's task; outputs are the per-group logits and the
task's pCTR = sigmoid(calib_a · logit[group(task)] + calib_b). Unlike camoe, a peer
computes every group's gate and tower for every row and recomputes the request side
for every row (that is what a plain exported graph does).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

ENGINES = {
    # name: (file, kind, int8?)
    "ort-fp32": ("model-fp32.onnx", "ort", False),
    "ort-int8dyn": ("model-int8dyn.onnx", "ort", True),
    "litert-fp32": ("model-fp32.tflite", "litert", False),
    "litert-int8dyn": ("model-int8dyn.tflite", "litert", True),
    "litert-int8": ("model-int8.tflite", "litert", True),
}


# ----------------------------------------------------------------------------- dump


class Dump:
    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, "config.json")) as f:
            self.cfg = json.load(f)
        c = self.cfg
        self.fields = c["fields"]
        self.order = c["x0_order"]
        self.emb = {}
        for f in self.fields:
            if f["kind"] == "categorical":
                self.emb[f["index"]] = np.load(os.path.join(d, f"emb_{f['index']}.npy"))
        self.lin = []
        for k, (_i, _o, has_b) in enumerate(c["linear_shapes_in_out_bias"]):
            w = np.load(os.path.join(d, f"lin_{k}_w.npy"))
            b = np.load(os.path.join(d, f"lin_{k}_b.npy")) if has_b else None
            self.lin.append((w, b))
        self.task_group = np.array([t["group"] for t in c["tasks"]], dtype=np.int64)
        self.calib_a = np.array([t["calib_a"] for t in c["tasks"]], dtype=np.float32)
        self.calib_b = np.array([t["calib_b"] for t in c["tasks"]], dtype=np.float32)
        # Sample requests.
        self.values = {}
        for f in self.fields:
            i = f["index"]
            name = f"req_rows_{i}.npy" if f["kind"] == "categorical" else f"req_dense_{i}.npy"
            self.values[i] = np.load(os.path.join(d, name))
        self.task = np.load(os.path.join(d, "req_task.npy"))
        self.pctr = {m: np.load(os.path.join(d, f"pctr_{m}.npy")) for m in ("f32", "int8")}
        self.n_req, self.n_cand = self.task.shape

    def layers(self):
        """The linear layers grouped as FORMAT.md orders them."""
        a = self.cfg["arch"]
        it = iter(self.lin)
        experts = []
        for _ in range(a["experts"]):
            cross = []
            for _ in range(a["cross_layers"]):
                if a["cross_rank"] == 0:
                    cross.append((next(it),))
                else:
                    cross.append((next(it), next(it)))  # V then U
            mlp = [next(it) for _ in a["expert_mlp"]]
            experts.append((cross, mlp))
        groups = []
        for _ in self.cfg["groups"]:
            gate = next(it)
            tower = [next(it) for _ in a["tower"]]
            final = next(it)
            groups.append((gate, tower, final))
        return experts, groups

    def input_name(self, i):
        return f"f{i}_{self.fields[i]['name']}"

    def batch(self, r, b, idx_dtype):
        """Inputs of request r's first b candidates, request fields tiled to b rows."""
        feeds = {}
        for i in self.order:
            f = self.fields[i]
            v = self.values[i]
            v = np.full((b,), v[r], dtype=v.dtype) if f["side"] == "request" else v[r, :b]
            feeds[self.input_name(i)] = v.astype(idx_dtype if f["kind"] == "categorical" else np.float32)
        feeds["task"] = self.task[r, :b].astype(idx_dtype)
        return feeds

    def reference(self, r, b):
        """The forward pass in numpy float64 (a third opinion for the parity check)."""
        feeds = self.batch(r, b, np.int64)
        parts = []
        for i in self.order:
            v = feeds[self.input_name(i)]
            parts.append(self.emb[i][v].astype(np.float64) if self.fields[i]["kind"] == "categorical" else v[:, None].astype(np.float64))
        x0 = np.concatenate(parts, axis=1)
        lin = lambda x, wb: x @ wb[0].T.astype(np.float64) + (0 if wb[1] is None else wb[1])
        experts, groups = self.layers()
        outs = []
        for cross, mlp in experts:
            x = x0
            for c in cross:
                y = lin(x, c[0]) if len(c) == 1 else lin(lin(x, c[0]), c[1])
                x = x0 * y + x
            for l in mlp:
                x = np.maximum(lin(x, l), 0)
            outs.append(x)
        e = np.stack(outs, axis=1)
        logits = []
        for gate, tower, final in groups:
            g = lin(x0, gate)
            g = np.exp(g - g.max(axis=1, keepdims=True))
            g /= g.sum(axis=1, keepdims=True)
            h = (g[:, :, None] * e).sum(axis=1)
            for l in tower:
                h = np.maximum(lin(h, l), 0)
            logits.append(lin(h, final)[:, 0])
        logits = np.stack(logits, axis=1)
        t = feeds["task"]
        z = self.calib_a[t] * logits[np.arange(b), self.task_group[t]] + self.calib_b[t]
        return 1 / (1 + np.exp(-z))


# ----------------------------------------------------------------------------- ONNX


def build_onnx(dump, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = [0]

    def name(p):
        counter[0] += 1
        return f"{p}_{counter[0]}"

    def const(arr, p="c"):
        n = name(p)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(t, ins, p=None, **kw):
        out = name(p or t.lower())
        nodes.append(helper.make_node(t, ins, [out], **kw))
        return out

    def linear(x, wb):
        w, b = wb
        y = op("MatMul", [x, const(w.T.astype(np.float32), "w")])  # W stored [out][in]
        return y if b is None else op("Add", [y, const(b.astype(np.float32), "b")])

    inputs, parts = [], []
    ax1 = const(np.array([1], dtype=np.int64), "axis1")
    for i in dump.order:
        f = dump.fields[i]
        n = dump.input_name(i)
        if f["kind"] == "categorical":
            inputs.append(helper.make_tensor_value_info(n, TensorProto.INT64, ["B"]))
            parts.append(op("Gather", [const(dump.emb[i], f"emb{i}"), n], axis=0))
        else:
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B"]))
            parts.append(op("Unsqueeze", [n, ax1]))
    inputs.append(helper.make_tensor_value_info("task", TensorProto.INT64, ["B"]))
    x0 = op("Concat", parts, "x0", axis=1)

    experts, groups = dump.layers()
    outs = []
    for cross, mlp in experts:
        x = x0
        for c in cross:
            y = linear(x, c[0]) if len(c) == 1 else linear(linear(x, c[0]), c[1])
            x = op("Add", [op("Mul", [x0, y]), x])
        for l in mlp:
            x = op("Relu", [linear(x, l)])
        outs.append(op("Unsqueeze", [x, ax1]))
    e = op("Concat", outs, "experts", axis=1)  # [B, E, H]
    logits = []
    for gate, tower, final in groups:
        a = op("Softmax", [linear(x0, gate)], axis=1)  # [B, E]
        a = op("Unsqueeze", [a, const(np.array([2], dtype=np.int64))])
        h = op("ReduceSum", [op("Mul", [a, e]), ax1], keepdims=0)  # [B, H]
        for l in tower:
            h = op("Relu", [linear(h, l)])
        logits.append(linear(h, final))  # [B, 1]
    nodes.append(helper.make_node("Concat", logits, ["logits"], axis=1))
    gi = op("Unsqueeze", [op("Gather", [const(dump.task_group, "task_group"), "task"], axis=0), ax1])
    lg = op("Squeeze", [op("GatherElements", ["logits", gi], axis=1), ax1])
    ca = op("Gather", [const(dump.calib_a, "calib_a"), "task"], axis=0)
    cb = op("Gather", [const(dump.calib_b, "calib_b"), "task"], axis=0)
    nodes.append(helper.make_node("Sigmoid", [op("Add", [op("Mul", [ca, lg]), cb])], ["pctr"]))

    G = len(dump.cfg["groups"])
    graph = helper.make_graph(
        nodes,
        dump.cfg["name"],
        inputs,
        [
            helper.make_tensor_value_info("pctr", TensorProto.FLOAT, ["B"]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", G]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="camoe-peers")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


# ----------------------------------------------------------------------------- TFLite


def tf_forward(dump):
    """A tf.function computing the same forward pass, batch dimension free."""
    import tensorflow as tf

    experts, groups = dump.layers()
    c = lambda a: tf.constant(np.ascontiguousarray(a))

    def linear(x, wb):
        y = tf.linalg.matmul(x, c(wb[0].astype(np.float32)), transpose_b=True)  # FULLY_CONNECTED
        return y if wb[1] is None else y + c(wb[1].astype(np.float32))

    specs = []
    for i in dump.order:
        f = dump.fields[i]
        dt = tf.int32 if f["kind"] == "categorical" else tf.float32
        specs.append(tf.TensorSpec([None], dt, name=dump.input_name(i)))
    specs.append(tf.TensorSpec([None], tf.int32, name="task"))
    G = len(dump.cfg["groups"])
    onehot = np.eye(G, dtype=np.float32)[dump.task_group]  # [T, G]

    @tf.function(input_signature=specs)
    def forward(*args):
        parts = []
        for i, v in zip(dump.order, args[:-1]):
            if dump.fields[i]["kind"] == "categorical":
                parts.append(tf.gather(c(dump.emb[i]), v))
            else:
                parts.append(tf.expand_dims(v, 1))
        task = args[-1]
        x0 = tf.concat(parts, axis=1)
        outs = []
        for cross, mlp in experts:
            x = x0
            for cl in cross:
                y = linear(x, cl[0]) if len(cl) == 1 else linear(linear(x, cl[0]), cl[1])
                x = x0 * y + x
            for l in mlp:
                x = tf.nn.relu(linear(x, l))
            outs.append(x)
        e = tf.stack(outs, axis=1)
        logits = []
        for gate, tower, final in groups:
            a = tf.nn.softmax(linear(x0, gate), axis=1)
            h = tf.reduce_sum(tf.expand_dims(a, 2) * e, axis=1)
            for l in tower:
                h = tf.nn.relu(linear(h, l))
            logits.append(linear(h, final))
        logits = tf.concat(logits, axis=1)
        lg = tf.reduce_sum(logits * tf.gather(c(onehot), task), axis=1)
        z = tf.gather(c(dump.calib_a), task) * lg + tf.gather(c(dump.calib_b), task)
        return {"pctr": tf.sigmoid(z), "logits": logits}

    return forward


def build_tflite(dump, out_dir):
    import tensorflow as tf

    forward = tf_forward(dump)
    cf = forward.get_concrete_function()

    def converter():
        return tf.lite.TFLiteConverter.from_concrete_functions([cf], tf.Module())

    conv = converter()
    open(os.path.join(out_dir, "model-fp32.tflite"), "wb").write(conv.convert())

    conv = converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights, float activations
    open(os.path.join(out_dir, "model-int8dyn.tflite"), "wb").write(conv.convert())

    def representative():
        for r in range(dump.n_req):
            for s in range(0, dump.n_cand, 100):
                feeds = dump.batch(r, dump.n_cand, np.int32)
                yield {n: v[s : s + 100] for n, v in feeds.items()}

    conv = converter()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative  # full int8: weights and activations
    open(os.path.join(out_dir, "model-int8.tflite"), "wb").write(conv.convert())


def build(args):
    dump = Dump(args.dump)
    os.makedirs(args.models, exist_ok=True)
    t0 = time.time()
    fp32 = os.path.join(args.models, "model-fp32.onnx")
    build_onnx(dump, fp32)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, os.path.join(args.models, "model-int8dyn.onnx"), weight_type=QuantType.QInt8)
    print(f"peers: ONNX built ({time.time() - t0:.1f} s)", file=sys.stderr)
    t0 = time.time()
    build_tflite(dump, args.models)
    print(f"peers: TFLite built ({time.time() - t0:.1f} s)", file=sys.stderr)
    for e, (f, _, _) in ENGINES.items():
        print(f"  {e:16s} {os.path.getsize(os.path.join(args.models, f)) / 1e6:7.2f} MB  {f}", file=sys.stderr)


# ----------------------------------------------------------------------------- runners


class Runner:
    """One engine at one batch size: call() = feed inputs, run, read pCTR."""

    def __init__(self, engine, models, dump, b, threads=1):
        f, kind, _ = ENGINES[engine]
        path = os.path.join(models, f)
        self.kind = kind
        if kind == "ort":
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            self.feeds = dump.batch(0, b, np.int64)
        else:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            # AUTO = builtin kernels with the default delegate (XNNPACK) applied.
            it = Interpreter(model_path=path, num_threads=threads, experimental_op_resolver_type=OpResolverType.AUTO)
            sig = it._get_full_signature_list()["serving_default"]
            feeds = dump.batch(0, b, np.int32)
            self.inputs = []
            for n, v in feeds.items():
                k = sig["inputs"][n]
                it.resize_tensor_input(k, [b], strict=False)
                self.inputs.append((k, v))
            it.allocate_tensors()
            self.out = sig["outputs"]["pctr"]
            self.it = it
            self.delegated = sum(1 for o in it._get_ops_details() if "DELEGATE" in o["op_name"].upper())
            self.ops = len(it._get_ops_details())

    def __call__(self):
        if self.kind == "ort":
            return self.sess.run(["pctr"], self.feeds)[0]
        it = self.it
        for k, v in self.inputs:
            it.set_tensor(k, v)
        it.invoke()
        return it.get_tensor(self.out)


def parity(args):
    dump = Dump(args.dump)
    ok = True
    ref64 = np.concatenate([dump.reference(r, dump.n_cand) for r in range(dump.n_req)])
    camoe32 = dump.pctr["f32"].reshape(-1)
    camoe8 = dump.pctr["int8"].reshape(-1)
    lines = []

    def row(name, p, base, limit):
        nonlocal ok
        d = np.abs(p.astype(np.float64) - base)
        status = "reported" if limit is None else ("ok" if d.max() < limit else "FAIL")
        if status == "FAIL":
            ok = False
        lines.append(f"{name},{d.max():.3g},{d.mean():.3g},{'' if limit is None else limit},{status}")

    row("numpy float64 forward pass (peers.py) vs camoe-f32", ref64, camoe32, 1e-4)
    row("camoe-int8 (Rust API scalar) vs camoe-f32", camoe8, camoe32, None)
    for e, (_, _, int8) in ENGINES.items():
        # Every request's candidates at B = all, and request 0's first candidate at B = 1.
        r = Runner(e, args.models, dump, dump.n_cand)
        p = []
        for q in range(dump.n_req):
            if r.kind == "ort":
                r.feeds = dump.batch(q, dump.n_cand, np.int64)
            else:
                feeds = dump.batch(q, dump.n_cand, np.int32)
                r.inputs = [(k, v) for (k, _), v in zip(r.inputs, feeds.values())]
            p.append(r())
        row(f"{e} vs camoe-f32", np.concatenate(p), camoe32, None if int8 else 1e-4)
        r1 = Runner(e, args.models, dump, 1)
        row(f"{e} (B=1) vs camoe-f32", r1(), camoe32[:1], None if int8 else 1e-4)
        if r.kind == "litert":
            lines[-1] += f" (xnnpack partitions: {r.delegated})"
    for extra in args.camoe_scores or []:
        label, path = extra.split("=", 1)
        s = np.fromfile(path, dtype="<f4")
        row(f"{label} (C ABI) vs camoe-f32 (Rust API scalar)", s, camoe32, None if "int8" in label else 1e-4)
        if "int8" in label:
            row(f"{label} (C ABI) vs camoe-int8 (Rust API scalar)", s, camoe8, None)
    out = "check,max_abs_diff_pctr,mean_abs_diff_pctr,limit,status\n" + "\n".join(lines) + "\n"
    print(out, end="")
    if args.csv:
        open(args.csv, "w").write(out)
    if not ok:
        print("peers: PARITY FAILED: an fp32 engine disagrees with camoe's f32 pCTRs", file=sys.stderr)
        sys.exit(1)


def timing(args):
    dump = Dump(args.dump)
    batches = [int(b) for b in args.batches.split(",")]
    engines = args.engines.split(",") if args.engines else list(ENGINES)
    for e in engines:
        for b in batches:
            r = Runner(e, args.models, dump, b, args.threads)
            end = time.perf_counter() + 0.25 * args.seconds
            n = 0
            while time.perf_counter() < end or n < 5:
                r()
                n += 1
            t = []
            end = time.perf_counter() + args.seconds
            while time.perf_counter() < end or len(t) < 15:
                t0 = time.perf_counter_ns()
                r()
                t.append((time.perf_counter_ns() - t0) / 1e3)
            t.sort()
            n = len(t)
            print(f"{e}/{args.label},{b},{t[n // 2]:.3f},{t[n // 10]:.3f},{t[(9 * n) // 10]:.3f},{n}", flush=True)


def floor(args):
    """The Python binding's own cost per call: a 1-element Identity graph in ORT."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "floor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = {"x": np.zeros(1, np.float32)}
    for _ in range(2000):
        s.run(["y"], x)
    t = []
    for _ in range(20000):
        t0 = time.perf_counter_ns()
        s.run(["y"], x)
        t.append((time.perf_counter_ns() - t0) / 1e3)
    print(f"ort python call floor (Identity, 1 float): median {statistics.median(t):.2f} us")


def amx_probe(_args):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # arch_prctl(ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18), syscall 158 on x86-64
    r = libc.syscall(158, 0x1023, 18)
    e = ctypes.get_errno()
    print(f"arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) = {r}" + (f", errno {e} ({os.strerror(e)})" if r else " (AMX granted)"))


def camoe_bench(args):
    """camoe's column comes from camoe-bench, the tool a device team runs: its JSON
    report becomes timings.csv rows (median = p50) or the kernels.txt line."""
    with open(args.report) as f:
        r = json.load(f)
    if args.kernels:
        print(f"{args.label}: mode {r['model']['mode']}, kernels: {r['kernel_info']}")
        return
    for b in r["batches"]:
        print(f"{args.label},{b['batch']},{b['p50_us']:.3f},{b['p10_us']:.3f},{b['p90_us']:.3f},{b['iterations']}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for c in ("build", "parity", "time"):
        p = sub.add_parser(c)
        p.add_argument("dump")
        p.add_argument("models")
        if c == "time":
            p.add_argument("label")
            p.add_argument("--seconds", type=float, default=0.6)
            p.add_argument("--batches", default="1,10,50,200,1000")
            p.add_argument("--engines", default="")
            p.add_argument("--threads", type=int, default=1, help="ORT intra_op_num_threads, LiteRT num_threads")
        if c == "parity":
            p.add_argument("--camoe-scores", action="append", help="LABEL=FILE of f32 scores from camoe-bench")
            p.add_argument("--csv")
    sub.add_parser("amx-probe")
    sub.add_parser("floor")
    p = sub.add_parser("camoe-bench")
    p.add_argument("label")
    p.add_argument("report")
    p.add_argument("--kernels", action="store_true")
    a = ap.parse_args()
    {"build": build, "parity": parity, "time": timing, "amx-probe": amx_probe, "floor": floor,
     "camoe-bench": camoe_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
