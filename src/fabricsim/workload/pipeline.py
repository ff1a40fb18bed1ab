"""Which layers each pipeline stage holds.

Megatron splits the decoder's layers evenly over ``pp`` stages unless told otherwise
(``decoder_first_pipeline_num_layers`` / ``decoder_last_pipeline_num_layers``); the Llama 3 recipe
removes one layer from the first and the last stage, so that the embedding and the output head
have room (Grattafiori et al. 2024, section 3.3.2).  Layers are numbered from the input: the
leading dense layers of an MoE model (DeepSeek-V3's first three) sit on the first stage.
Multi-token-prediction modules (DeepSeek-V3: one) run on the last stage after the output head:
each adds a transformer block (counted in that stage's layers) and a second head and loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError


@dataclass(frozen=True)
class StageLayout:
    """Layers per stage (first to last) and how many of them are MoE layers."""

    layers: tuple[int, ...]  # transformer blocks per stage, the last stage's MTP blocks included
    moe_layers: tuple[int, ...]
    mtp: int = 0  # multi-token-prediction modules on the last stage

    @property
    def decoder_layers(self) -> tuple[int, ...]:
        """Blocks of the model proper per stage (without the MTP blocks)."""
        return self.layers[:-1] + (self.layers[-1] - self.mtp,)

    @property
    def stages(self) -> int:
        return len(self.layers)


def stage_layout(model, pp: int, first: int | None = None, last: int | None = None, mtp: int = 0) -> StageLayout:
    """Split ``model.layers`` over ``pp`` stages; ``first`` / ``last`` fix the end stages' counts;
    ``mtp`` multi-token-prediction blocks join the last stage (MoE blocks in an MoE model)."""
    total = model.layers
    if pp == 1:
        counts = [total]
    else:
        ends = [first, last]
        fixed = sum(x for x in ends if x is not None)
        free = pp - sum(x is not None for x in ends)
        rest = total - fixed
        if rest < 0 or (free == 0 and rest != 0) or (free and rest < free):
            raise FabricsimError(
                f"workload.train: first_stage_layers={first} and last_stage_layers={last} do not leave "
                f"{model.name}'s {total} layers for the other {free} of pp={pp} stages (each needs at least one)")
        counts = _assemble(pp, first, last, rest, free)
    dense = model.layers - model.moe_layers if model.routed_experts else total
    moe, start = [], 0
    for n in counts:
        moe.append(max(0, start + n - max(dense, start)) if model.routed_experts else 0)
        start += n
    counts[-1] += mtp
    if model.routed_experts:
        moe[-1] += mtp
    return StageLayout(tuple(counts), tuple(moe), mtp)


def _assemble(pp: int, first, last, rest: int, free: int) -> list[int]:
    base, extra = divmod(rest, free) if free else (0, 0)
    share = [base + (1 if i < extra else 0) for i in range(free)]
    counts = []
    for stage in range(pp):
        if stage == 0 and first is not None:
            counts.append(first)
        elif stage == pp - 1 and last is not None:
            counts.append(last)
        else:
            counts.append(share.pop(0))
    return counts


__all__ = ["StageLayout", "stage_layout"]
