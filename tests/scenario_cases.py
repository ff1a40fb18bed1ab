"""Generated inputs for fabricsim's property tests and its fuzz script (benchmarks/fuzz_scenarios.py).

A *case* is ``{"command": ..., "scenario": <data as a user would write it>, "options": {...}}``.
:func:`cases` draws valid scenarios across the whole catalog and 1 to 10^6 GPUs, and corrupted ones
(wrong types, NaN/inf, missing, extra and nested garbage, hostile catalog files), with the options of
each command.  :func:`execute` runs a case through the public Python API as the CLI would, renders
its tables, and sorts the outcome into

* ``answered``   - a result whose invariants hold (:mod:`fabricsim.invariants`);
* ``refused``    - FabricsimError (the message is returned so callers can check it names a field);
* ``non-finite`` - a result that breaks an invariant (NaN/inf, impossible figures);
* ``crashed``    - any other exception.

Hangs are the caller's to detect (a time bound per case).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import yaml
from hypothesis import strategies as st
from rich.console import Console

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError

_CATALOG = default_catalog()
NAMES = {section: sorted(entries) for section, entries in _CATALOG.sections.items()}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COMMANDS = ("plan", "run", "collective", "train", "infer", "reliability")

# ---------------------------------------------------------------- hostile and valid files


def hostile_files(directory: str | Path) -> dict[str, str]:
    """Write the catalog files cases refer to (by key) into ``directory``; returns key -> path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))
    gpu = _CATALOG.gpu("h100-sxm").model_dump()
    gpu.pop("name")
    texts = {
        "not-utf8": b"gpus:\n  caf\xe9: {}\n",
        "nested": ("gpus: " + "[" * 5000 + "]" * 5000).encode(),
        "bad-tag": b"gpus: !!float abc\n",
        "bomb": bomb.encode(),
        "wrong-shape": b"switches: {x: 5}\n",
        "nan-figure": b"gpus:\n  h100-sxm: {power_w: .nan}\n",
        "list": b"- gpus\n- switches\n",
        "unknown-section": b"routers: {}\n",
        "empty": b"",
        "override-gpu": yaml.safe_dump({"gpus": {"h100-sxm": dict(gpu, power_w=750.0)}}).encode(),
        "new-gpu": yaml.safe_dump({"gpus": {"my-gpu": dict(gpu, price_usd=20000.0)}}).encode(),
        "huge-figure": yaml.safe_dump({"gpus": {"big-gpu": dict(gpu, bf16_dense_flops=1e300)}}).encode(),
        "tiny-figure": yaml.safe_dump({"gpus": {"slow-gpu": dict(gpu, hbm_bytes_per_s=1e-300)}}).encode(),
    }
    paths = {}
    for key, data in texts.items():
        path = d / f"{key}.yaml"
        path.write_bytes(data)
        paths[key] = str(path)
    paths.update({"directory": str(d), "dev-zero": "/dev/zero", "long-path": str(d / ("x" * 5000)),
                  "missing": str(d / "missing.yaml"), "nul": "a\0b.yaml"})
    return paths


HOSTILE_KEYS = ("not-utf8", "nested", "bad-tag", "bomb", "wrong-shape", "nan-figure", "list", "unknown-section",
                "empty", "override-gpu", "new-gpu", "huge-figure", "tiny-figure", "directory", "dev-zero",
                "long-path", "missing", "nul")


def _resolve_files(data, files: dict[str, str]):
    """Replace ``{"file": key}`` placeholders in catalog_files by the paths of :func:`hostile_files`."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k == "catalog_files" and isinstance(v, list):
                out[k] = [files.get(x[5:], x) if isinstance(x, str) and x.startswith("file:") else x for x in v]
            else:
                out[k] = _resolve_files(v, files) if isinstance(v, dict) else v
        return out
    return data


# ---------------------------------------------------------------- valid scenarios

GPU_COUNTS = st.one_of(
    st.integers(1, 16), st.integers(17, 1024), st.integers(1025, 8192),
    st.sampled_from([1, 2, 7, 8, 9, 64, 65, 72, 100, 144, 1152, 4096, 16384, 32768, 100_000, 131_072,
                     262_144, 1_048_576]),
    st.integers(8193, 1_000_000))


def _optional(**fields):
    return st.fixed_dictionaries({}, optional=fields)


def valid_scenarios(max_gpus: int = 1_048_576, flow_gpus: int | None = None) -> st.SearchStrategy[dict]:
    """Scenarios a user could write: every catalog name, 1..max_gpus GPUs, every section optional."""
    gpus = GPU_COUNTS.filter(lambda n: n <= max_gpus)
    cluster = _optional(
        gpu=st.sampled_from(NAMES["gpus"]), gpus=gpus, scale_up=st.sampled_from(NAMES["scale_up"]),
        nic=st.sampled_from(NAMES["nics"]), gpus_per_server=st.sampled_from([1, 2, 4, 8, 16, 64, 72]),
        scale_out_per_gpu=st.sampled_from(["200G", "400G", "800G", "1.6T", 4e11]), gpus_per_nic=st.sampled_from([1, 1, 2, 4, 3]))
    fabric = _optional(
        switch=st.sampled_from(NAMES["switches"]), tiers=st.sampled_from(["auto", 1, 2, 3]),
        oversubscription=st.lists(st.sampled_from([1, 1.5, 2, 3, 4, 7.5]), min_size=1, max_size=2),
        planes=st.integers(1, 8), rail_optimized=st.booleans(),
        transport=st.sampled_from(["infiniband", "roce", "spectrum-x", "uec", "efa"]),
        load_balancing=st.sampled_from(["ecmp", "spray", "adaptive", "flowlet"]),
        optics=st.sampled_from(["dsp", "lpo", "lro", "cpo", "xpo", "aoc", "aec", "copper"]),
        nic_optics=st.sampled_from(["dsp", "lpo", "lro", "xpo", "aoc", "aec", "copper"]),
        copper_in_reach=st.booleans(), port_speed=st.sampled_from(["200G", "400G", "800G", "1.6T"]),
        media=st.dictionaries(st.sampled_from(["leaf", "spine", "core"]), st.sampled_from(NAMES["media"]),
                              max_size=2),
        switches=st.dictionaries(st.sampled_from(["leaf", "spine", "core"]), st.sampled_from(NAMES["switches"]),
                                 max_size=2),
        link_speeds=st.dictionaries(st.sampled_from(["spine", "core"]), st.sampled_from(["400G", "800G", "1.6T"]),
                                    max_size=1),
        downlinks=st.lists(st.sampled_from([8, 16, 32, 64, 192]), min_size=1, max_size=2),
        rail_only=st.booleans(), flows_per_connection=st.sampled_from([1, 2, 16]),
        in_network_reduction=st.sampled_from(["off", "nvls", "sharp", "nvls+sharp"]))
    layout = _optional(host_to_leaf_m=st.floats(1, 200), leaf_to_spine_m=st.floats(1, 2000),
                       spine_to_core_m=st.floats(1, 20000), gpus_per_rack=st.integers(1, 144))
    economics = _optional(energy_usd_per_kwh=st.floats(0, 1), pue=st.floats(1, 2), years=st.floats(0.5, 10),
                          prices=st.dictionaries(st.sampled_from(NAMES["media"] + NAMES["gpus"] + NAMES["switches"]),
                                                 st.floats(0, 1e5), max_size=3))
    reliability = _optional(
        days=st.floats(0.5, 365), runs=st.integers(1, 200), seed=st.integers(0, 2**32),
        checkpoint_interval_s=st.floats(60, 86400), job_restart_s=st.floats(0, 7200),
        spare_hosts=st.integers(0, 1000), planned_per_day=st.floats(0, 5), network_failures_stop_job=st.booleans(),
        blocking_fraction=st.floats(0, 1),
        rates=st.dictionaries(st.sampled_from(NAMES["failures"]), st.floats(0, 1e-3), max_size=2))
    train = _optional(
        model=st.sampled_from(NAMES["models"]), tp=st.sampled_from([1, 2, 4, 8, 16]),
        pp=st.sampled_from([1, 2, 4, 8, 16]), cp=st.sampled_from([1, 2]), ep=st.sampled_from([1, 2, 8, 64]),
        global_batch=st.sampled_from([1, 16, 256, 2048]), seq=st.sampled_from([1, 2048, 8192, 131072]),
        micro_batch=st.sampled_from([1, 2]), zero=st.sampled_from([0, 1, 2, 3]), dp_shard=st.sampled_from([1, 2, 3, 8]),
        recompute=st.sampled_from(["auto", "none", "selective", "full", "per-op"]),
        communication=st.sampled_from(["auto", "flow", "analytic"]),
        placement=st.sampled_from(["contiguous", "random-servers", "domain-aligned", "auto"]),
        order=st.sampled_from(["tp-cp-ep-dp-pp", "tp-cp-pp-dp"]),
        pipeline_schedule=st.sampled_from(["1f1b", "dualpipe"]),
        cuda_graph_scope=st.sampled_from([[], ["attn"], ["moe_router"], ["moe_router", "moe_preprocess"],
                                          ["attn", "moe_router", "moe_preprocess"], ["moe_preprocess"]]),
        elementwise=st.sampled_from(["fused", "eager", "eager-fused-norm"]),
        moe_dispatcher=st.sampled_from(["alltoall", "deepep", "hybridep"]), routing_node_limit=st.sampled_from([1, 4]),
        pp_comm_overlap=st.booleans(), moe_capacity_factor=st.sampled_from([0.5, 1.0, 1.25, 64.0]),
        moe_pad_to_capacity=st.booleans(), cuda_graphs=st.booleans(),
        recompute_modules=st.lists(st.sampled_from(["core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe",
                                                    "shared_experts", "attention"]), max_size=3),
        activation_offload_layers=st.sampled_from([1, 4, 40, 200]), gradient_reduce_bytes=st.sampled_from([2, 4]),
        embedding_in_pipeline_split=st.booleans(), loss_in_pipeline_split=st.booleans(), fp8_weights=st.booleans(),
        precision=st.sampled_from(["bf16", "fp8"]), optimizer_states=st.sampled_from(["fp32", "bf16-moments", "bf16"]),
        pipeline_flushes=st.sampled_from([1, 2, 3, 8]), routing=st.sampled_from(["random", "contiguous"]),
        software=st.sampled_from(NAMES["software"]))
    infer = _optional(
        model=st.sampled_from(NAMES["models"]), prefill_gpus=st.integers(1, 64), decode_gpus=st.integers(1, 128),
        tp=st.sampled_from([1, 2, 4, 8]), batch=st.integers(1, 512), context=st.sampled_from([1, 1024, 8192]),
        output_tokens=st.integers(1, 4096), mode=st.sampled_from(["disaggregated", "static"]),
        two_batch_overlap=st.booleans(), pp=st.sampled_from([1, 2, 4]), ep=st.sampled_from([1, 2, 8, 64]),
        context_cv=st.sampled_from([0.0, 0.5, 1.25, 10.0]), output_tokens_cv=st.sampled_from([0.0, 0.78, 3.0]),
        length_correlation=st.sampled_from([-1.0, -0.34, 0.0, 1.0]), requests=st.sampled_from([1, 7, 1000, 10**9]))
    examples = st.sampled_from([{}] + [data for data in (yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml")))
                                       if data.get("cluster", {}).get("gpus", 16384) <= max_gpus])
    written = _optional(cluster=cluster, fabric=fabric, layout=layout, economics=economics, reliability=reliability,
                        workload=_optional(train=train, infer=infer))
    return st.tuples(examples, written, st.integers(0, 9)).map(lambda t: _coherent(_merge(t[0], t[1]), t[2]))


def _coherent(data: dict, dice: int) -> dict:
    """Most of the time (dice < 7) make the parts speak to each other as a user who read the catalog would:
    a transport the switch speaks, a port speed it offers; the rest stays as drawn (mismatches are refused)."""
    fabric = data.get("fabric")
    if dice >= 7 or not isinstance(fabric, dict):
        return data
    switch = _CATALOG.sections["switches"].get(fabric.get("switch", "quantum-2"))
    if switch is None:
        return data
    fabric = dict(fabric)
    if fabric.get("transport", "infiniband") not in switch.protocols:
        fabric["transport"] = switch.protocols[dice % len(switch.protocols)]
    if "port_speed" in fabric and dice < 4:
        del fabric["port_speed"]
    return dict(data, fabric=fabric)


def _merge(base: dict, extra: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- corruption

FIELD_PATHS = [
    ("cluster", "gpu"), ("cluster", "gpus"), ("cluster", "scale_up"), ("cluster", "nic"),
    ("cluster", "gpus_per_server"), ("cluster", "scale_out_per_gpu"), ("cluster", "gpus_per_nic"), ("fabric", "switch"),
    ("fabric", "tiers"),
    ("fabric", "oversubscription"), ("fabric", "planes"), ("fabric", "port_speed"), ("fabric", "media"),
    ("fabric", "transport"), ("fabric", "load_balancing"), ("fabric", "optics"), ("layout", "host_to_leaf_m"),
    ("layout", "spine_to_core_m"), ("layout", "gpus_per_rack"), ("economics", "prices"), ("economics", "years"),
    ("economics", "pue"), ("economics", "energy_usd_per_kwh"), ("reliability", "days"), ("reliability", "runs"),
    ("reliability", "seed"), ("reliability", "parameters"), ("reliability", "checkpoint_interval_s"),
    ("reliability", "storage_write_bytes_per_s"), ("reliability", "job_restart_s"), ("reliability", "spare_hosts"),
    ("reliability", "planned_per_day"), ("reliability", "rates"), ("workload", "train", "tp"),
    ("workload", "train", "pp"), ("workload", "train", "dp"), ("workload", "train", "ep"),
    ("workload", "train", "model"), ("workload", "train", "seq"), ("workload", "train", "global_batch"),
    ("workload", "train", "virtual_stages"), ("workload", "train", "jitter_s"), ("workload", "train", "order"),
    ("workload", "infer", "prefill_gpus"), ("workload", "infer", "decode_gpus"), ("workload", "infer", "ep"),
    ("workload", "infer", "context"), ("workload", "infer", "batch"), ("workload", "infer", "pp"), ("name",),
    ("catalog_files",),
    ("cluster",), ("fabric",), ("workload",), ("reliability",), ("nonsense",), ("cluster", "gpus_typo"),
    ("fabric", "switches"), ("fabric", "link_speeds"), ("fabric", "downlinks"), ("fabric", "flows_per_connection"),
    ("fabric", "collective_library"), ("fabric", "in_network_reduction"), ("reliability", "detection_s"),
    ("reliability", "init_s_per_1k_gpus"), ("workload", "train", "gpus"), ("workload", "train", "software"),
    ("workload", "train", "expert_tp"), ("workload", "train", "routing_imbalance"),
    ("workload", "train", "pipeline_group"), ("workload", "train", "pipeline_schedule"), ("workload", "train", "cuda_graph_scope"), ("workload", "train", "elementwise"),
    ("workload", "train", "moe_capacity_factor"), ("workload", "train", "moe_pad_to_capacity"),
    ("workload", "train", "cuda_graphs"), ("workload", "train", "recompute_modules"),
    ("workload", "train", "activation_offload_layers"), ("workload", "train", "gradient_reduce_bytes"),
    ("workload", "train", "embedding_in_pipeline_split"), ("workload", "train", "fp8_weights"),
    ("workload", "train", "optimizer_states"), ("workload", "train", "pipeline_flushes"), ("workload", "train", "routing"),
    ("workload", "infer", "mode"), ("workload", "infer", "prefill_batch"),
    ("fabric", "topology"), ("fabric", "torus"), ("sites",), ("layout", "scale_up_rack_to_rack_m"),
]

GARBAGE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.5, 1e100, 1e308, 10**30, 2**63, -(2**63), 1e-300, True,
                     False, None, "", "400G", "1e400", "1e400G", "-5", "nan", "inf", "[1, 2", "yes", "x" * 10_000,
                     "[/bold]", [], {}, [1, 2, 3], [math.nan], {"a": {"b": {"c": [1]}}}]),
    st.sampled_from(NAMES["gpus"] + NAMES["switches"] + NAMES["media"] + NAMES["models"] + NAMES["nics"]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.recursive(st.none() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=20),
)


def _set(data, path: tuple, value):
    if not isinstance(data, dict):
        return data
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    return data


def _delete(data, path: tuple):
    node = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return data


@st.composite
def corrupted_scenarios(draw, max_gpus: int = 1_048_576) -> dict:
    """A valid scenario with 1 to 3 mutations: garbage values, deletions, hostile catalog files, a top
    level that is not a mapping."""
    data = draw(valid_scenarios(max_gpus))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "value", "value", "delete", "files", "top"]))
        if kind == "value":
            data = _set(data, draw(st.sampled_from(FIELD_PATHS)), draw(GARBAGE))
        elif kind == "delete":
            data = _delete(data, draw(st.sampled_from(FIELD_PATHS)))
        elif kind == "files":
            keys = draw(st.lists(st.sampled_from(HOSTILE_KEYS), min_size=1, max_size=2))
            data = _set(data, ("catalog_files",), [f"file:{k}" for k in keys])
        elif draw(st.integers(0, 9)) == 0:
            data = draw(st.sampled_from([[1, 2], "cluster", 42, None]))
    return data


# ---------------------------------------------------------------- options of each command


def _options(command: str, corrupt: bool) -> st.SearchStrategy[dict]:
    text = st.sampled_from(["", "x", "1e400", "[/red]"]) if corrupt else st.nothing()
    if command == "plan":
        return _optional(count_only=st.booleans(), compare_optics=st.booleans())
    if command == "collective":
        return _optional(
            op=st.sampled_from(["all_reduce", "reduce_scatter", "all_gather", "broadcast", "all_to_all", "send_recv"])
            | text,
            algo=st.sampled_from(["auto", "ring", "tree", "nvls", "nvls_tree", "pat", "hierarchical", "in_network",
                                  "direct"]) | text,
            lb=st.sampled_from(["ecmp", "spray", "adaptive", "flowlet", "ideal"]) | text,
            protocol=st.sampled_from(["ll", "ll128", "simple"]) | text, cross_rail=st.booleans(),
            sizes=st.sampled_from(["1MiB", "1GiB", "1B:1MiB", "1MiB:64MiB", "4096,1GiB", "8GiB"]) | text,
            ranks=st.integers(1, 4096),
            placement=st.sampled_from(["contiguous", "rail-aware", "random", "one-per-node"]) | text,
            channels=st.integers(1, 64), seed=st.integers(0, 2**63 - 1), fail_links=st.integers(0, 50),
            fail_tier=st.integers(1, 3), method=st.sampled_from(["auto", "flow", "analytic"]) | text)
    if command == "train":
        return _optional(
            model=st.sampled_from(NAMES["models"]) | text, tp=st.sampled_from([1, 2, 4, 8]) | GARBAGE_INT(corrupt),
            pp=st.sampled_from([1, 2, 4, 8, 16]), dp=st.integers(1, 64) | GARBAGE_INT(corrupt),
            micro_batch=st.sampled_from([1, 2]), zero=st.sampled_from([0, 1, 2, 3]) | GARBAGE_INT(corrupt),
            dp_shard=st.sampled_from([1, 2, 3, 8]) | GARBAGE_INT(corrupt),
            recompute=st.sampled_from(["auto", "none", "full", "per-op"]) | text,
            moe_dispatcher=st.sampled_from(["alltoall", "deepep", "hybridep"]) | text,
            pipeline_schedule=st.sampled_from(["1f1b", "dualpipe"]) | text,
            load_balancing=st.sampled_from(["ecmp", "spray", "adaptive", "ideal"]) | text,
            communication=st.sampled_from(["auto", "flow", "analytic"]) | text)
    if command == "infer":
        return _optional(model=st.sampled_from(NAMES["models"]) | text, prefill_gpus=st.integers(1, 64),
                         decode_gpus=st.integers(1, 128) | GARBAGE_INT(corrupt), ep=st.integers(1, 128),
                         pp=st.integers(1, 8) | GARBAGE_INT(corrupt), mode=st.sampled_from(["static", "disaggregated"]),
                         batch=st.integers(1, 1024), context=st.sampled_from([1, 8192, 131072]),
                         load_balancing=st.sampled_from(["ecmp", "spray", "ideal"]) | text)
    return st.just({})


def GARBAGE_INT(corrupt: bool):  # noqa: N802 (a strategy factory)
    return st.sampled_from([0, -1, 10**12, 2**63]) if corrupt else st.nothing()


FLOW_COMMANDS_MAX_GPUS = 16_384
"""Valid scenarios of flow-level commands (run, collective, train, infer) stay at or below this size in
generated cases, except in ``large`` cases (the fuzz script's share of big clusters)."""


@st.composite
def cases(draw, corrupt_share: float = 0.6, large: bool = False, max_gpus: int | None = None) -> dict:
    """One case: a command, its scenario data (valid or corrupted) and its options."""
    command = draw(st.sampled_from(COMMANDS))
    limit = max_gpus or (1_048_576 if (large or command in ("plan", "reliability")) else FLOW_COMMANDS_MAX_GPUS)
    corrupt = draw(st.floats(0, 1)) < corrupt_share
    scenario = draw(corrupted_scenarios(limit) if corrupt else valid_scenarios(limit))
    if isinstance(scenario, dict) and not corrupt:
        rel = scenario.setdefault("reliability", {})
        if isinstance(rel, dict):
            rel.setdefault("runs", draw(st.integers(1, 100)))  # the Monte Carlo's length is not what is tested
    return {"command": command, "scenario": scenario, "options": draw(_options(command, corrupt))}


# ---------------------------------------------------------------- running a case


def execute(case: dict, files: dict[str, str]) -> tuple[str, str]:
    """Run ``case`` through the public API and render it; returns (outcome, detail)."""
    from fabricsim import invariants
    from fabricsim.scenario import scenario_from_dict

    sink = Console(file=io.StringIO(), width=200)
    try:
        scenario = scenario_from_dict(_resolve_files(case["scenario"], files))
        problems = _COMMANDS[case["command"]](scenario, dict(case["options"]), sink, invariants)
    except FabricsimError as exc:
        return "refused", str(exc)
    except Exception as exc:  # noqa: BLE001 - the point is to catch everything else
        import traceback

        return "crashed", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    if problems:
        return "non-finite", "; ".join(problems[:5])
    return "answered", ""


def _plan(scenario, options, sink, invariants):
    from fabricsim.plan import compare_optics, plan_scenario
    from fabricsim.report.plan_view import print_plan

    from fabricsim.fabric_kinds import other_plan_document, plan_other, print_other_plan

    other = plan_other(scenario)  # a torus, or several sites
    if other is not None:
        print_other_plan(other, sink)
        return invariants.check_finite([other_plan_document(other)], "plan")
    plan = plan_scenario(scenario, materialise=False if options.get("count_only") else None)
    optics = compare_optics(scenario) if options.get("compare_optics", True) else []
    print_plan(plan, optics, sink)
    return invariants.check_plan(plan)


def _run(scenario, options, sink, invariants):
    from fabricsim.api import run
    from fabricsim.report.run_view import print_run

    result = run(scenario)
    print_run(result, sink)
    return invariants.check_run(result)


def _collective(scenario, options, sink, invariants):
    from fabricsim.api import collective_sweep
    from fabricsim.units import parse_size_sweep
    from fabricsim.report.collective_view import print_collective

    sizes = parse_size_sweep(options.pop("sizes", "1MiB:64MiB"))
    from fabricsim.fabric_kinds import collective_other, print_other_collective
    from fabricsim.report.documents import collective_document

    other = collective_other(scenario, options.get("op", "all_reduce"), options.get("algo") or "auto", sizes,
                             options.get("ranks"), options.get("method", "auto"), options.get("lb"))
    if other is not None:  # a torus, or several sites, as the CLI runs them
        print_other_collective(other, sink)
        return invariants.check_finite([collective_document(other)], "collective")
    renamed = {"algo": "algorithm", "lb": "load_balancing"}
    report, lost = collective_sweep(scenario, sizes=sizes, **{renamed.get(k, k): v for k, v in options.items()})
    print_collective(report, sink)
    return invariants.check_collectives(report) + invariants.check_finite(lost or {}, "lost_capacity")


def _train(scenario, options, sink, invariants):
    from fabricsim.report.training_view import training_tables
    from fabricsim.workload import train

    step = train(scenario, **options)
    sink.print(training_tables(step))
    return invariants.check_training(step)


def _infer(scenario, options, sink, invariants):
    from fabricsim.report.inference_view import inference_table
    from fabricsim.workload import infer

    serve = infer(scenario, **options)
    sink.print(inference_table(serve))
    return invariants.check_inference(serve)


def _reliability(scenario, options, sink, invariants):
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess

    rel = assess(plan_scenario(scenario, materialise=False), scenario)
    rel.monte_carlo.summary()
    return invariants.check_reliability(rel)


_COMMANDS = {"plan": _plan, "run": _run, "collective": _collective, "train": _train, "infer": _infer,
             "reliability": _reliability}


FIELD_WORDS = ("cluster", "fabric", "layout", "economics", "reliability", "workload", "catalog", "sites", "--",
               "file", "scenario", "name", "YAML", "days", "runs", "tiers", "radix", "GPUs", "gpus", "tp=", "pp=",
               "zero=")


def names_a_field(message: str) -> bool:
    """Whether a refusal points at what to change (a field path, an option, a file or a catalog name)."""
    return any(word in message for word in FIELD_WORDS)


def cpu_seconds() -> float:
    return sum(os.times()[:2])
