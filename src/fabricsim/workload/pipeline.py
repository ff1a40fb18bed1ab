"""Which layers each pipeline stage holds.

Megatron splits the decoder's layers evenly over ``pp`` stages unless told otherwise
(``decoder_first_pipeline_num_layers`` / ``decoder_last_pipeline_num_layers``); the Llama 3 recipe
removes one layer from the first and the last stage, so that the embedding and the output head
have room (Grattafiori et al. 2024, section 3.3.2).  Layers are numbered from the input: the
leading dense layers of an MoE model (DeepSeek-V3's first three) sit on the first stage.
Multi-token-prediction modules (DeepSeek-V3: one) run on the last stage after the output head:
each adds a transformer block (counted in that stage's layers) and a second head and loss.

Megatron-Core can instead count the embedding and the loss as one layer each when it splits the
decoder (``account_for_embedding_in_pipeline_split`` / ``account_for_loss_in_pipeline_split``,
``get_num_layers_to_build`` in megatron/core/transformer/transformer_block.py at b0cc2706, lines
147-200): ``layers + 2`` are split evenly over the stages and their model chunks, and the first chunk
of the first stage and the last chunk of the last stage build one decoder layer fewer.  Megatron-Bridge's
Llama 3.1 405B recipe sets both.

A step's micro-batches run as one schedule (Megatron) or as several, each with its own fill and drain
(``pipeline_flushes``: torch.distributed.pipelining with gradient accumulation): :func:`micro_batches` checks
the split.
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
    embedding_slot: bool = False  # the embedding counted as a layer of the first stage's first chunk
    loss_slot: bool = False  # the loss counted as a layer of the last stage's last chunk

    @property
    def decoder_layers(self) -> tuple[int, ...]:
        """Blocks of the model proper per stage (without the MTP blocks)."""
        return self.layers[:-1] + (self.layers[-1] - self.mtp,)

    @property
    def stages(self) -> int:
        return len(self.layers)

    def chunk_layers(self, stage: int, chunks: int) -> tuple[float, ...]:
        """Transformer blocks of each of a stage's ``chunks`` model chunks (interleaved schedule), first
        chunk first: an even share, less the embedding's slot in the first stage's first chunk and the
        loss's in the last stage's last chunk (Megatron-Core get_num_layers_to_build)."""
        first = self.embedding_slot and stage == 0
        last = self.loss_slot and stage == self.stages - 1
        share = (self.layers[stage] + first + last) / chunks
        counts = [share] * chunks
        counts[0] -= first
        counts[-1] -= last
        return tuple(counts)


def stage_layout(model, pp: int, first: int | None = None, last: int | None = None, mtp: int = 0,
                 embedding_slot: bool = False, loss_slot: bool = False) -> StageLayout:
    """Split ``model.layers`` over ``pp`` stages; ``first`` / ``last`` fix the end stages' counts;
    ``mtp`` multi-token-prediction blocks join the last stage (MoE blocks in an MoE model);
    ``embedding_slot`` / ``loss_slot``: the embedding / loss count as a layer in the split (Megatron-Core
    account_for_embedding_in_pipeline_split / account_for_loss_in_pipeline_split)."""
    total = model.layers
    if embedding_slot or loss_slot:
        return _slotted(model, pp, first, last, mtp, embedding_slot, loss_slot)
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


def _slotted(model, pp: int, first, last, mtp: int, embedding_slot: bool, loss_slot: bool) -> StageLayout:
    """Megatron-Core's split with the embedding and/or the loss counted as layers: ``layers + slots`` must
    divide evenly over the stages (its assertion), the end stages hold one decoder layer fewer per slot."""
    if first is not None or last is not None:
        raise FabricsimError(
            "workload.train: embedding_in_pipeline_split / loss_in_pipeline_split cannot be combined with "
            f"first_stage_layers={first} / last_stage_layers={last} (Megatron-Core refuses uneven stages with a "
            "standalone embedding or loss slot); set one or the other")
    slots = embedding_slot + loss_slot
    if (model.layers + slots) % pp:
        raise FabricsimError(
            f"workload.train: with the embedding and loss in the pipeline split, {model.name}'s {model.layers} layers "
            f"+ {slots} must divide evenly over pp={pp} stages (Megatron-Core asserts it); choose a pp that divides "
            f"{model.layers + slots}, or leave embedding_in_pipeline_split / loss_in_pipeline_split false")
    per_stage = (model.layers + slots) // pp
    counts = [per_stage] * pp
    counts[0] -= embedding_slot
    counts[-1] -= loss_slot
    if min(counts) < 0:
        raise FabricsimError(f"workload.train: pp={pp} leaves a stage without layers for {model.name}")
    plain = stage_layout(model, pp, counts[0], counts[-1], mtp) if pp > 1 else stage_layout(model, 1, mtp=mtp)
    return StageLayout(plain.layers, plain.moe_layers, mtp, embedding_slot, loss_slot)


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


def micro_batches(spec, par) -> int:
    """Micro-batches per data-parallel replica and step (a TrainSpec ``spec`` on Parallelism ``par``), checked to
    split into ``pipeline_flushes`` equal schedules, each a whole number of interleaved micro-batch groups."""
    per_replica = spec.global_batch / (par.dp * spec.micro_batch)
    if per_replica != int(per_replica) or per_replica < 1:
        raise FabricsimError(
            f"workload.train.global_batch={spec.global_batch} is not a whole number of micro-batches of "
            f"{spec.micro_batch} per data-parallel replica (dp={par.dp}); use a multiple of {par.dp * spec.micro_batch}")
    m = int(per_replica)
    flushes = spec.pipeline_flushes
    if flushes > 1 and spec.pipeline_schedule == "dualpipe":
        raise FabricsimError(f"workload.train.pipeline_flushes={flushes}: DualPipe runs a step's micro-batches in one "
                             "schedule; use pipeline_flushes=1 with pipeline_schedule=dualpipe")
    if m % flushes:
        raise FabricsimError(f"workload.train.pipeline_flushes={flushes} does not divide the {m} micro-batches per "
                             f"data-parallel replica into equal schedules; use a divisor of {m}")
    group = spec.pipeline_group or par.pp
    if par.virtual_stages > 1 and (m // flushes) % group:
        raise FabricsimError(f"workload.train: interleaved pipelining needs micro-batches per schedule ({m // flushes}) "
                             f"to be a multiple of the micro-batch group ({group}: pipeline_group, default pp)")
    return m


__all__ = ["StageLayout", "micro_batches", "stage_layout"]
