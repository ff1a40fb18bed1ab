"""Requests of different lengths in one serving run: the KV cache a decode step reads, and the prompts' attention.

A serving run is described by its mean prompt length ``I`` and mean output length ``O`` (tokens).  When every
request has those lengths (trtllm-bench with ``--input-stdev 0 --output-stdev 0``, fixed-length load generators),
a sequence in flight holds on average ``I + O/2`` cached tokens: it is equally likely to be at any of its ``O``
decode steps.  When the lengths vary (MLPerf's datasets, chat traces, reasoning models), the sequences in flight at
a random decode step are not a random sample of the requests: a request of ``O_i`` output tokens takes part in
``O_i`` decode steps, so long ones are over-represented in proportion to their length (length-biased sampling, as in
renewal theory's inspection paradox).  Averaged over every decode step of the run, a sequence holds

    E[O (I + O/2)] / E[O] = I (1 + rho cv_I cv_O) + (O/2) (1 + cv_O^2)

cached tokens, where ``cv`` is a length's coefficient of variation (standard deviation over mean) and ``rho`` the
correlation of a request's prompt and output lengths.  For MLPerf's DeepSeek-R1 set (4,388 samples, outputs with
cv 1.25) that is 5,826 tokens against ``I + O/2`` = 2,826: the decode steps read twice the KV cache the means
suggest.

A prompt pass attends causally, so its attention work grows with the square of each prompt's length: a batch of
prompts costs the work of prompts of ``E[I^2] / E[I] = I (1 + cv_I^2)`` tokens each (its GEMMs, linear in tokens,
only see the total).

Only the first two moments are used (a distribution's shape beyond them does not enter these averages).  These are
the steady state's averages: the end of a finite run, where the longest requests decode in a batch that empties (its
drain), is :mod:`fabricsim.workload.finite_run`'s.  Not modelled: the KV-cache reservation of a scheduler that holds
every request's full length while it runs (the memory check keeps each sequence at the mean ``I + O``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestLengths:
    """Moments of a serving run's request lengths: means in tokens, coefficients of variation, and the
    correlation of a request's prompt and output lengths (Pearson, -1 to 1)."""

    context: float
    output_tokens: float
    context_cv: float = 0.0
    output_tokens_cv: float = 0.0
    correlation: float = 0.0

    @classmethod
    def of(cls, spec) -> RequestLengths:
        """The lengths a ``workload.infer`` spec describes."""
        return cls(spec.context, spec.output_tokens, spec.context_cv, spec.output_tokens_cv, spec.length_correlation)

    def decode_context(self) -> float:
        """Cached tokens a decode step reads per sequence, averaged over the run's decode steps (tokens):
        ``E[O (I + O/2)] / E[O]``."""
        prompt = self.context * (1.0 + self.correlation * self.context_cv * self.output_tokens_cv)
        return max(0.0, prompt) + self.output_tokens / 2 * (1.0 + self.output_tokens_cv ** 2)

    def prompt_attention_span(self) -> float:
        """Prompt length whose causal attention, times the batch's prompt tokens, gives the batch's attention work
        (tokens): ``E[I^2] / E[I]``."""
        return self.context * (1.0 + self.context_cv ** 2)

    @property
    def fixed(self) -> bool:
        """Whether every request has the mean lengths."""
        return self.context_cv == 0 and self.output_tokens_cv == 0


__all__ = ["RequestLengths"]
