"""The meaning of each key of the file formats whose validators keep their keys in sets.

The key *sets* are read from the validators themselves (`lowbit.docgen` imports them or
reads them with `ast`); only the one-line meanings live here. A key a validator accepts
that has no meaning here is an error when the reference is generated (`MissingDocError`),
so the reference cannot fall behind the code; a meaning for a key the code no longer has
is simply not shown.
"""

from __future__ import annotations

__all__ = ["ALLOC_KEYS", "ALLOC_LAYER_KEYS", "COSTS_KEYS", "SPACE_HW_KEYS", "SPACE_KEYS",
           "SPACE_MODEL_KEYS", "SPACE_PARAM_KEYS", "SPACE_WORKLOAD_KEYS", "WORKLOAD_CONV_KEYS",
           "WORKLOAD_LAYER_KEYS", "WORKLOAD_TOP_KEYS"]

# (type, meaning)
SPACE_KEYS: dict[str, tuple[str, str]] = {
    "name": ("string", "the space's name (stored with every point)"),
    "seed": ("int >= 0", "seed of the random and evolutionary strategies"),
    "strategy": ("string", "how designs are drawn: one of the strategies below"),
    "samples": ("int >= 1", "random / evolutionary: designs to evaluate"),
    "population": ("int >= 1", "evolutionary: population size"),
    "max_points": ("int >= 1", ("grid: most (design, model) points the space may hold (default "
                   "1000000); a larger grid is refused before it runs, with its size")),
    "objectives": ("list", "what a design is judged by across its models (Pareto ranking)"),
    "formats": ("list of format names", ("weight formats each model's layers choose from "
                "(a model entry may give its own)")),
    "act_formats": ("list of format names", ("activation formats chosen jointly with the "
                    "weights (default: each design's default_act_format); each (W, A) pair's "
                    "quality is its own: measured activation terms (digits-cnn, minilm-l6) or a "
                    "sensitivity file's `act:A` / `W/A` columns; any other source is refused")),
    "budgets": ("mapping metric: value", ("budgets of each point's inner ILP: latency, energy, "
                "memory, bops, sensitivity; a number in SI units (seconds, joules, bytes), a "
                "quantity with a unit (`2ms`, `5mJ`, `4MB`), `0.7x` (of the design's own "
                "all-widest-format total) or `0.5r` (halfway from its fastest to that total)")),
    "objective": ("string", ("what the inner ILP minimises: sensitivity, latency, energy, "
                  "memory or bops")),
    "workload": ("mapping", "workload options for every model (keys below)"),
    "models": ("list", "models to run on every design: a name, or a mapping (keys below)"),
    "hardware": ("list", ("hardware blocks: a preset name or YAML path, or a mapping "
                 "`{base, params}` (keys below)")),
}
SPACE_WORKLOAD_KEYS: dict[str, tuple[str, str]] = {
    "phase": ("string", "prefill, decode, inference or generate (default: the model's own)"),
    "seq_len": ("int >= 1", "tokens per sequence (transformers); generate: the prompt"),
    "batch": ("int >= 1", "batch size"),
    "context_len": ("int >= 1", "decode: tokens already in the KV cache"),
    "generate": ("int >= 1", "generate: decode steps after the prompt (default 20)"),
}
SPACE_MODEL_KEYS: dict[str, tuple[str, str]] = {
    "name": ("string", "a zoo name (`lowbit models list`)"),
    "formats": ("list of format names", "this model's weight formats (else the top-level list)"),
    "sensitivity": ("file path", ("per-(layer, format) quality loss, CSV or JSON (default: "
                    "the built-in for ResNet-18 / MiniLM, else a proxy)")),
}
SPACE_HW_KEYS: dict[str, tuple[str, str]] = {
    "base": ("string", "a preset name or an accelerator YAML path (relative to the space file)"),
    "params": ("mapping key: values", ("an Accelerator key reachable by `with_changes` "
               "(`core.rows`, `freq_hz`, `buffers.<name>.size_bytes`, "
               "`dram.bandwidth_bytes_per_cycle`, ...) -> its candidate values (keys below); "
               "every value is checked to make a valid accelerator before any point runs")),
}
SPACE_PARAM_KEYS: dict[str, tuple[str, str]] = {
    "values": ("list", "the candidate values (a plain list or a scalar means the same)"),
    "range": ("[low, high]", "an inclusive numeric range; needs `step` or `num`"),
    "step": ("number > 0", "spacing of a range (integers stay integers)"),
    "num": ("int >= 1", "number of evenly spaced values of a range"),
    "log": ("bool", "with `num`: geometric spacing (low > 0)"),
}

WORKLOAD_TOP_KEYS: dict[str, str] = {
    "format": "`lowbit-workload` (required)",
    "version": "schema version, `1` (required)",
    "name": "the workload's name",
    "phase": "prefill, decode, inference or generate",
    "batch": "batch size (default 1)",
    "seq_len": "tokens per sequence (default 0: not a transformer)",
    "edges": "producer -> consumer pairs of layer names (default: a chain in layer order)",
    "layers": "the layers, in execution order (keys below)",
    "meta": "free-form mapping carried along (importer, source file, ...)",
    "total_params": "written for reading; must agree with the layers when present",
    "total_macs": "written for reading; must agree with the layers when present",
}
WORKLOAD_LAYER_KEYS: dict[str, str] = {
    "name": "unique layer name",
    "op": "the operation (values below)",
    "m": "GEMM rows: output pixels x images, or tokens",
    "k": "GEMM reduction: input features, or kh x kw x in_channels / groups",
    "n": "GEMM columns: output features or filters",
    "batch": "independent GEMMs of this shape (attention heads, conv groups); default 1",
    "images": "images a conv's m spans (default 1)",
    "kv_share": "query heads sharing one K/V head (grouped-query attention MATMULs); default 1",
    "tied_to": "name of the layer whose weights this one reuses (tied embeddings)",
    "conv": "conv2d / dwconv2d geometry of one image (keys below); then m, k, n, batch follow",
    "weight_params": "written for reading; must agree with the shape when present",
    "macs": "written for reading; must agree with the shape when present",
}
WORKLOAD_CONV_KEYS: dict[str, str] = {
    "in_channels": "input channels",
    "out_channels": "output channels (filters)",
    "in_h": "input height (pixels)",
    "in_w": "input width (pixels)",
    "kernel_h": "kernel height",
    "kernel_w": "kernel width",
    "stride_h": "vertical stride",
    "stride_w": "horizontal stride",
    "pad_h": "zero padding, top and bottom each",
    "pad_w": "zero padding, left and right each",
    "groups": "channel groups (in_channels for a depthwise conv)",
    "dilation_h": "vertical dilation",
    "dilation_w": "horizontal dilation",
}

COSTS_KEYS: dict[str, str] = {
    "layers": "layer names, one per row (required)",
    "choices": "choice labels, one per column: a weight format, or `weight/act` pairs (required)",
    "sensitivity": "`[layer][choice]` quality loss, lower is better (required)",
    "costs": "name -> `[layer][choice]` array of any cost (latency_s, energy_j, memory_bytes, "
             "or a peer's own such as HAWQ's size in MiB)",
    "budgets": "name -> budget: a number in the cost's unit, a quantity, `0.6x` or `0.5r`",
    "ties": "groups of layers (index or name) that must take the same choice",
    "fixed": "layer -> the one choice it must take",
    "allowed": "layer -> the choices it may take",
    "model": "the model's name (carried into results)",
    "hardware": "the accelerator's name (carried into results)",
    "source": "where the table came from (free text)",
    "notes": "free text, ignored",
}

ALLOC_KEYS: dict[str, str] = {
    "model": "the model's name",
    "hardware": "the accelerator's name",
    "status": "solver status: optimal, feasible (time limit hit), or the baseline's own",
    "objective": "value of the minimised metric",
    "objective_name": "the minimised metric (sensitivity unless --objective says otherwise)",
    "method": "ilp, greedy, lagrangian or uniform:CHOICE",
    "solver": "the ILP solver that ran (HiGHS, CBC) or the baseline",
    "layers": "one entry per layer (keys below)",
    "totals": "metric -> total over the layers of the chosen choices",
    "budgets": "metric -> the budget applied, resolved to the metric's unit",
    "clock_hz": "the accelerator clock the latencies were priced at",
}
ALLOC_LAYER_KEYS: dict[str, str] = {
    "name": "layer name",
    "format": "the chosen choice label",
    "latency_s": "this layer's latency in seconds, at the accelerator's clock (null for a costs file)",
    "cycles": "this layer's latency in cycles (null for a costs file)",
    "latency_cycles": "this layer's latency in cycles",
    "energy_j": "this layer's energy in joules",
    "weight_bytes": "this layer's weight bytes at the chosen format (scales included)",
    "memory_bytes": "this layer's weight bytes at the chosen format (scales included)",
    "sensitivity": "this layer's quality loss at the chosen format",
    "costs": "every cost of the table at the chosen choice",
}
