"""Memory a serving GPU holds: its share of the weights and the KV cache of its sequences (bytes), and the error
that names a batch that fits when they exceed its HBM."""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.workload.model import kv_cache_bytes
from fabricsim.workload.weight_format import stored_weight_bytes


def weights_and_kv_per_gpu(spec, model, parameters: float, routed: float, ep: int, sequences: float
                           ) -> tuple[float, float]:
    """(weight bytes, KV-cache bytes) per GPU of a tensor-parallel group: ``parameters`` over tp but the
    ``routed`` expert parameters among them over ``ep``, and the KV cache of ``model``'s layers for
    ``sequences`` sequences of context + output tokens, split over tp (MLA's latent is not split over heads)."""
    weights = stored_weight_bytes(spec, (parameters - routed) / spec.tp, routed / ep)
    kv_split = spec.tp if model.attention != "mla" else 1
    kv = sequences * kv_cache_bytes(model, spec.context + spec.output_tokens, spec.kv_bytes) / kv_split
    return weights, kv


def check_resident(spec, gpu, weights: float, kv: float, sequences: float, needs: str) -> float:
    """Bytes resident per GPU (weights + KV cache); more than the GPU's HBM is an error that says which batch
    would fit.  ``needs``: what holds them, as the message names it ('decode', 'the heaviest of ... stages')."""
    resident = weights + kv
    if resident > gpu.hbm_bytes:
        fit = int(spec.batch * max(0.0, gpu.hbm_bytes - weights) / max(1.0, kv))
        count = f"{sequences:,.0f}" if float(sequences).is_integer() else f"{sequences:,.1f}"
        noun = "sequence" if float(sequences) == 1 else "sequences"
        held = f"{weights / 1e9:,.0f} GB weights + KV cache of {count} {noun} x {spec.context + spec.output_tokens:,} tokens"
        if fit >= 1:
            fix = f"batch <= {fit} would fit, or more GPUs"
        else:
            short = ("the weights alone exceed it" if weights > gpu.hbm_bytes else
                     "one sequence's KV cache does not fit beside the weights")
            fix = (f"{short}, so no batch fits: spread the model over more GPUs (a larger tp, ep or pp) or store it in "
                   "fewer bytes (weight_bytes, kv_bytes)")
        raise FabricsimError(
            f"workload.infer: {needs} needs {resident / 1e9:,.0f} GB per GPU ({held}) but "
            f"{gpu.name} has {gpu.hbm_bytes / 1e9:,.0f} GB; {fix}")
    return resident


__all__ = ["weights_and_kv_per_gpu", "check_resident"]
