"""Serving deployment search: the instance shape that serves the scenario's requests with the most output
tokens per second per GPU.

The built-in scenario serves DeepSeek-V3 disaggregated on 32 prefill + 64 decode GPUs.  For another model,
or a cluster too small for that, fabricsim picks a deployment itself the way an operator sizes one: every
shape the model and cluster admit is timed by the serving model (:func:`fabricsim.workload.infer`) at the
scenario's batch and lengths, shapes whose weights and KV cache do not fit HBM are dropped, and the highest
output tokens/s per GPU of the whole deployment wins.  The shapes:

* **static**: one tensor-parallel group of ``tp`` GPUs (a power of two inside one scale-up domain) serving
  the batch, and where no single group holds the model, ``pp`` pipeline stages of full-domain groups;
* **disaggregated** (mixture-of-experts models, the layout DeepSeek, SGLang and Dynamo serve them in):
  prefill and decode instances of ``g`` GPUs each, attention data-parallel (``tp`` 1) or tensor-parallel
  over the scale-up domain, experts spread over the decode instance.

Latency targets are not searched: a deployment that must meet a time per output token sets its own shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError

DEPLOYMENT = ("mode", "prefill_gpus", "decode_gpus", "tp", "pp", "ep")
"""The shape of a serving deployment (``fabricsim.workload.infer`` keywords): the user's if any is set."""


@dataclass(frozen=True)
class Deployment:
    settings: dict  # infer() keyword arguments
    tokens_per_s_per_gpu: float

    @property
    def label(self) -> str:
        s = self.settings
        if s["mode"] == "static":
            stages = f" x PP{s['pp']}" if s.get("pp", 1) > 1 else ""
            shape = f"static batch on TP{s['tp']}{stages} ({s['tp'] * s.get('pp', 1)} GPUs)"
        else:
            shape = (f"disaggregated, {s['prefill_gpus']} prefill + {s['decode_gpus']} decode GPUs, "
                     f"attention TP{s['tp']}, experts over {s['decode_gpus']}")
        return shape + (f", batch {s['batch']} (the default halved until it fits)" if "batch" in s else "")


def _powers_of_two(limit: int) -> list[int]:
    out, n = [], 1
    while n <= limit:
        out.append(n)
        n *= 2
    return out


def deployment_candidates(moe: bool, gpus: int, domain: int, layers: int) -> list[dict]:
    """Deployment shapes (infer() keywords) of a model on ``gpus`` GPUs in scale-up domains of ``domain``:
    static groups of tp = 1, 2, 4 ... up to the domain, pipelines of full-domain groups up to the layer
    count, and for MoE models disaggregated pairs of g + g GPUs with attention TP 1 or the domain's width."""
    group = min(domain, gpus)
    shapes = [{"mode": "static", "tp": tp, "pp": 1} for tp in _powers_of_two(group)]
    shapes += [{"mode": "static", "tp": group, "pp": pp} for pp in _powers_of_two(min(gpus // group, layers))[1:]]
    if moe:
        for g in _powers_of_two(gpus // 2):
            for tp in sorted({1, min(g, domain)}):
                shapes.append({"mode": "disaggregated", "prefill_gpus": g, "decode_gpus": g, "tp": tp, "pp": 1})
    return shapes


def search_deployment(scenario, overrides: dict, fabric=None, shrink_batch: bool = False) -> Deployment:
    """The fastest deployment (output tokens/s per GPU) of the scenario's serving job among
    :func:`deployment_candidates`; ``overrides``: the job's other infer() keywords, kept as given.
    ``shrink_batch``: when no shape holds the batch, halve it until one does (the batch is not the user's)."""
    from fabricsim.topology.design import design_fabric
    from fabricsim.workload import effective_spec, infer, model_entry

    spec = effective_spec(scenario, "infer", overrides)
    model = model_entry(scenario, spec.model, "workload.infer.model")
    design = fabric.design if fabric is not None else design_fabric(scenario)
    job = {k: v for k, v in overrides.items() if v is not None and k not in DEPLOYMENT}
    shapes = deployment_candidates(bool(model.routed_experts), design.gpus, design.scale_up.gpus, model.layers)
    batch, refusal = spec.batch, (0, "no shape to try")
    while True:
        best = None
        for shape in shapes:
            try:
                result = infer(scenario, fabric=fabric, **{**job, "batch": batch}, **shape)
            except FabricsimError as exc:
                size = shape["tp"] * shape["pp"] if shape["mode"] == "static" else 2 * shape["decode_gpus"]
                if batch == spec.batch:
                    refusal = max(refusal, (size, str(exc)), key=lambda r: r[0])
                continue
            if best is None or result.tokens_per_s_per_gpu > best.tokens_per_s_per_gpu:
                best = Deployment({**shape, "batch": batch} if batch != spec.batch else shape,
                                  result.tokens_per_s_per_gpu)
        if best is not None:
            return best
        if not shrink_batch or batch == 1:
            break
        batch //= 2
    raise FabricsimError(f"none of the deployments of {spec.model} tried on {design.gpus:,} GPUs serves a batch of "
                         f"{spec.batch}{' or less' if shrink_batch else ''} at {spec.context:,} + "
                         f"{spec.output_tokens:,} tokens (the largest, on {refusal[0]} GPUs: {refusal[1]})")


__all__ = ["DEPLOYMENT", "Deployment", "deployment_candidates", "search_deployment"]
