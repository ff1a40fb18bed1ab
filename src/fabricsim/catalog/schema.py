"""Schemas of catalog entries: one pydantic model per kind of part.

Every figure in the catalog is stored in SI base units (bits/s, bytes, bytes/s,
FLOP/s, watts, metres, seconds, US dollars) and its field name carries the unit
(``hbm_bytes``, ``power_w``, ``price_usd``).  Every entry names where its figures
come from:

* ``source``      - the default citation for every figure of the entry (a seed file
                    name, a datasheet, a paper and table);
* ``sources``     - per-field citations that override ``source`` for that field;
* ``assumptions`` - per-field labels for figures that are *assumptions* (no public
                    figure found), with a one-line reason;
* ``fitted_on``   - per-field lists of validation case ids (``fabricsim validate``) for figures
                    that were *fitted* (no source gives them directly; the named cases set them).
                    Every other case is held out for that figure.

``Entry.source_of(field)`` answers "where does this number come from?".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveFloat = float  # validated with Field(gt=0) where it matters

SMALLEST_FIGURE = 1e-12
LARGEST_FIGURE = 1e18
"""Every non-zero figure of an entry lies between these magnitudes (the built-in catalog spans 2e-8 s
to 1.75e16 FLOP/s): a figure outside is a unit slip, and products and ratios of figures stay finite."""


def _numbers(data, path: str = ""):
    """(dotted field, number) for every number in a dumped entry, lists and mappings included."""
    if isinstance(data, bool):
        return
    if isinstance(data, (int, float)):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            yield from _numbers(value, f"{path}[{i}]")


class Entry(BaseModel):
    """Fields common to every catalog entry."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$",
                      description="catalog key: letters, digits and - _ . + (e.g. 'h100-sxm')")
    description: str = ""
    vendor: str = ""
    source: str = Field(min_length=3, description="default citation for every figure")
    sources: dict[str, str] = Field(default_factory=dict, description="per-field citations")
    assumptions: dict[str, str] = Field(
        default_factory=dict, description="fields that are assumptions, with the reason"
    )
    fitted_on: dict[str, list[str]] = Field(
        default_factory=dict, description="fields fitted to validation cases: field -> case ids"
    )
    price_range_usd: dict[str, list[float]] = Field(
        default_factory=dict, description="low and high of a price field, USD: {price_usd: [low, high]}; cite "
        "it in sources.price_range_usd"
    )

    @model_validator(mode="after")
    def _magnitudes(self) -> "Entry":
        for field, value in _numbers(self.model_dump()):
            if value and not SMALLEST_FIGURE <= abs(value) <= LARGEST_FIGURE:
                raise ValueError(
                    f"{field}={value!r}: figures are in SI base units (bits/s, bytes, W, m, s, USD, FLOP/s) and "
                    f"must be 0 or between {SMALLEST_FIGURE:g} and {LARGEST_FIGURE:g} in magnitude")
        return self

    @model_validator(mode="after")
    def _cited_fields_exist(self) -> "Entry":
        known = set(type(self).model_fields)
        for name, bounds in self.price_range_usd.items():
            if name not in known or not name.endswith("_usd") and not name.endswith("_usd_per_m"):
                raise ValueError(f"price_range_usd names {name!r}, not a price field of this entry")
            value = getattr(self, name)
            if len(bounds) != 2 or not 0 <= bounds[0] <= value <= bounds[1]:
                raise ValueError(f"price_range_usd.{name}={bounds}: expected [low, high] with low <= {value} <= high")
        for mapping_name in ("sources", "assumptions", "fitted_on"):
            for field in getattr(self, mapping_name):
                if field not in known:
                    raise ValueError(
                        f"{mapping_name} names field {field!r}, which entries of this kind "
                        f"do not have; valid fields: {', '.join(sorted(known))}"
                    )
        return self

    def source_of(self, field: str) -> str:
        """The citation for one figure; assumptions are returned labelled as such."""
        if field in self.assumptions:
            return f"ASSUMPTION: {self.assumptions[field]}"
        cited = self.sources.get(field, self.source)
        if field in self.fitted_on:
            return f"FITTED on {', '.join(self.fitted_on[field])}: {cited}"
        return cited


class Gpu(Entry):
    """An accelerator package (one GPU / XPU)."""

    bf16_dense_flops: float = Field(gt=0, description="dense BF16 tensor FLOP/s")
    fp8_dense_flops: float = Field(gt=0, description="dense FP8 tensor FLOP/s")
    hbm_bytes: float = Field(gt=0)
    memory_total_bytes: float | None = Field(
        None, gt=0, description="device memory the driver reports (NVML / nvidia-smi total), bytes, as software that "
        "sizes itself from it sees it; None: hbm_bytes")
    hbm_bytes_per_s: float = Field(gt=0, description="HBM bandwidth as specified (datasheet peak), bytes/s")
    hbm_stream_efficiency: float = Field(
        gt=0, le=1, description="fraction of hbm_bytes_per_s that streaming kernels sustain (STREAM / BabelStream "
        "triad: read two arrays, write one); every memory-bound kernel of the workload model runs at this rate")
    scale_up_bits_per_s: float = Field(gt=0, description="NVLink/UALink bandwidth per GPU, per direction")
    scale_out_bits_per_s: float = Field(gt=0, description="scale-out NIC bandwidth per GPU, per direction")
    default_nic: str = Field(description="catalog name of the NIC paired with this GPU")
    default_scale_up: str = Field(description="catalog name of the usual scale-up system")
    power_w: float = Field(gt=0, description="GPU board/module power")
    price_usd: float = Field(gt=0, description="price per GPU")
    server_overhead_power_w: float = Field(
        ge=0, description="per-GPU share of host CPU, memory, fans, PSU losses (excludes NICs)"
    )
    server_overhead_price_usd: float = Field(
        ge=0, description="per-GPU share of chassis, CPUs, memory, storage (excludes GPU and NICs)"
    )
    matmul_efficiency: float = Field(
        gt=0, le=1, description="achievable fraction of dense BF16 peak on large GEMMs (measured MAMF)"
    )
    # per-generation compute constants of the GEMM / attention model (fabricsim.workload.gemm)
    sm_count: int = Field(gt=0, description="streaming multiprocessors (GEMM output tiles run one per SM)")
    gemm_tile: list[int] = Field(
        default=[128, 256], min_length=2, max_length=2, description="output tile M x N of large GEMMs")
    gemm_epilogue_overlap: float = Field(
        0.0, ge=0, lt=1, description="share of a GEMM tile's epilogue hidden behind the next tile's main loop "
        "(0: Ampere-style serial epilogue; warp-specialized persistent kernels on Hopper and later hide part)")
    gemm_stream_k: bool = Field(
        True, description="the GEMM library balances the last wave of tiles over idle SMs (stream-K); False: "
        "classic tiling, a partly filled last wave leaves SMs idle (wave quantization)")
    gemm_static_persistent: bool = Field(
        False, description="the GPU's GEMM library runs persistent grids (one block per SM) with a static share of tiles "
        "per block, so a GEMM launched beside a communication kernel that holds SMs runs the waiting blocks' share "
        "late (fabricsim.workload.persistent_gemm); False: a classic grid or dynamic tile scheduling")
    matmul_best_shape: list[int] = Field(
        default_factory=list, description="M, N, K at which matmul_efficiency was measured ([] = unknown); "
        "the GEMM model peaks at MAMF over the whole sweep, not at this shape")
    fp8_matmul_efficiency: float | None = Field(
        None, gt=0, le=1, description="achievable fraction of dense FP8 peak (measured MAMF); None = as BF16")
    fp8_matmul_best_shape: list[int] = Field(default_factory=list, description="M, N, K of the FP8 measurement")
    mxfp8_matmul_ratio: float = Field(
        1.0, gt=0, le=1, description="rate of a block-scaled MXFP8 GEMM (one E8M0 scale per 32 elements) relative to a "
        "per-tensor-scaled FP8 GEMM of the same shape, which fp8_matmul_efficiency (MAMF) measures; 1: the same")
    fp4_dense_flops: float | None = Field(
        None, gt=0, description="dense FP4 tensor FLOP/s (NVFP4 / MXFP4 operands, Blackwell and later); None: no FP4 "
        "tensor cores -- FP4 weights are then widened in the GEMM (weight-only quantization)")
    fp4_matmul_efficiency: float | None = Field(
        None, gt=0, le=1, description="achievable fraction of dense FP4 peak (measured MAMF, or bisected so the GEMM "
        "model meets one measured shape); None: as FP8")
    fp4_gemm_stream_k: bool | None = Field(
        None, description="whether the block-scaled FP4 GEMM kernels balance the last wave of tiles (stream-K); "
        "False: a static persistent tile schedule, whose last wave leaves SMs idle; None: as gemm_stream_k")
    fp4_gemm_fixed_s: float = Field(
        0.0, ge=0, description="seconds every block-scaled FP4 GEMM kernel takes beyond its tiles' work (its prologue "
        "and epilogue: the floor a small GEMM does not go under), besides the software profile's launch gap")
    sustained_compute_ratio: float = Field(
        1.0, gt=0, le=1, description="tensor-core throughput a GPU sustains through a whole training step (every GPU "
        "of the node busy, NVLink, HBM and NICs drawing from the same power budget, real shapes) relative to the "
        "single-kernel measurements (MAMF, attention benchmarks)")
    deepep_sm_bytes_per_s: list[float] = Field(
        default_factory=list, description="[dispatch, combine] bytes/s one SM moves in DeepEP's normal intranode "
        "kernels where they are SM-bound (measured at few SMs); [] unknown: the dispatch runs at the link's rate")
    deepep_mnnvl_sm_bytes_per_s: list[float] = Field(
        default_factory=list, description="[dispatch, combine] bytes/s one SM moves in DeepEP's NVLink kernels when an "
        "expert group spans the compute trays of a multi-node NVLink domain (NVL72); [] unknown: DeepEP's NVLink kernels "
        "stop at one server and the rest of the group is reached as other nodes")
    hybridep_bytes_per_s: dict[int, dict[int, list[float]]] = Field(
        default_factory=dict, description="HybridEP's measured [dispatch, combine] algorithm bandwidth over NVLink "
        "through its Torch API (bytes/s; bytes = rows received x hidden x 2, as DeepEP's), by SMs given to it and "
        "then by EP ranks: {16: {8: [d, c], 32: [d, c]}, 32: {...}}; {}: HybridEP's calls at the fabric's rate")
    host_link_bytes_per_s: float | None = Field(
        None, gt=0, description="the GPU's own link to host memory, per direction, as specified (PCIe Gen5 x16 on x86 "
        "boards; its share of NVLink-C2C on Grace superchips), bytes/s; None: not in the catalog")
    host_copy_bytes_per_s: list[float] = Field(
        default_factory=list, min_length=0, max_length=2, description="[host to device, device to host] bytes/s a "
        "copy-engine memcpy between pinned host memory and HBM sustains (nvbandwidth *_memcpy_ce); [] = "
        "host_link_bytes_per_s both ways")
    host_memory_bytes: float | None = Field(
        None, gt=0, description="host (CPU) memory per GPU: the server's DRAM / LPDDR5X over its GPUs, bytes; "
        "None: not in the catalog")
    nics_on_cpu: bool = Field(
        False, description="scale-out NICs hang off the CPU, every NIC equally near the CPU's GPUs (Grace superchips "
        "reached over C2C), instead of one NIC per GPU behind its own PCIe switch")
    attention_efficiency: dict[str, float] = Field(
        default_factory=dict, description="fraction of dense BF16 peak a fused attention kernel sustains, forward "
        "and backward together, by kernel: flash1 (FlashAttention v1), flash2, flex (PyTorch FlexAttention), native (the "
        "generation's own best: FA3 / cuDNN), and <kernel>-fp8 "
        "for the same kernel with FP8 inputs (cuDNN FP8 attention)")
    attention_half_sequence_tokens: dict[str, float] = Field(
        default_factory=dict, description="by kernel: the sequence length at which the kernel reaches half its "
        "asymptotic efficiency (a fixed cost per query block and head, paid once per row of the causal square): "
        "efficiency = attention_efficiency x seq / (seq + this); absent: one efficiency at every length")
    attention_head_dim_64_ratio: dict[str, float] = Field(
        default_factory=dict, description="by kernel: the fused kernel's rate (forward + backward, 1 : 2.5) at head "
        "dimension 64 over its rate at 128, where attention_efficiency is measured; sets the fixed work per score "
        "(fabricsim.workload.attention_head_dim); absent: one rate at every head dimension")
    windowed_attention_efficiency: dict[str, float] = Field(
        default_factory=dict, description="by kernel: fraction of dense BF16 peak the fused kernel sustains on a "
        "sliding-window layer's band (the window's FLOPs, 1 forward + 2.5 backward, as measured on the window's "
        "own shape); absent: windowed layers run at attention_efficiency like full ones")
    architecture: Literal["volta", "ampere", "hopper", "blackwell", "rubin", "other"] = Field(
        description="GPU architecture generation (selects the collective library's per-generation constants)"
    )

    @model_validator(mode="after")
    def _head_dim_ratios(self) -> "Gpu":
        bad = {k: v for k, v in self.attention_head_dim_64_ratio.items() if not 0.5 < v <= 1.0}
        if bad:
            raise ValueError(f"attention_head_dim_64_ratio={bad}: each ratio (rate at head dimension 64 over 128) must "
                             "lie in (0.5, 1]")
        return self

    @model_validator(mode="after")
    def _host_copy_pair(self) -> "Gpu":
        if len(self.host_copy_bytes_per_s) not in (0, 2) or any(r <= 0 for r in self.host_copy_bytes_per_s):
            raise ValueError(f"host_copy_bytes_per_s={self.host_copy_bytes_per_s} must be [] or two positive rates "
                             "[host to device, device to host] in bytes/s")
        return self

    @property
    def host_copy_rates(self) -> tuple[float, float] | None:
        """(host to device, device to host) bytes/s of a copy between pinned host memory and HBM; None when the
        catalog has no host-link figure for this GPU."""
        if len(self.host_copy_bytes_per_s) == 2:
            return self.host_copy_bytes_per_s[0], self.host_copy_bytes_per_s[1]
        if self.host_link_bytes_per_s is None:
            return None
        return self.host_link_bytes_per_s, self.host_link_bytes_per_s

    @property
    def hbm_stream_bytes_per_s(self) -> float:
        """HBM bytes per second a streaming kernel sustains (elementwise kernels, casts, copies, KV reads,
        GEMM operand and epilogue traffic): the datasheet figure times ``hbm_stream_efficiency``."""
        return self.hbm_bytes_per_s * self.hbm_stream_efficiency


class ScaleUpSystem(Entry):
    """A scale-up domain: GPUs sharing one memory-semantic fabric (NVLink, UALink)."""

    gpus: int = Field(gt=0, le=1_000_000, description="GPUs in one scale-up domain")
    gpus_per_rack: int = Field(gt=0, le=1_000_000, description="GPUs in one physical rack")
    switch_chips: int = Field(ge=0, le=1_000_000, description="scale-up switch chips per domain (NVSwitch...)")
    copper_cables: int = Field(ge=0, le=100_000_000, description="copper cables in the scale-up spine per domain")
    link_latency_s: float = Field(gt=0, description="one-way GPU-to-GPU latency inside the domain")
    switch_chip_power_w: float = Field(ge=0)
    price_usd: float = Field(ge=0, description="scale-up fabric price per domain (switch trays, cables)")
    gpus_per_server: int = Field(
        8, gt=0, description="GPUs per host / compute tray (an NVL72 compute tray holds 4); sets hosts and rails"
    )
    protocol: Literal["nvlink", "ualink", "pcie", "ici"] = "nvlink"
    in_network_reduction: bool = Field(
        False, description="scale-up switches reduce in the fabric (NVLink SHARP / NVLS, NVSwitch gen 3+)"
    )
    payload_efficiency: float = Field(
        gt=0, le=1, description="share of the scale-up link rate that carries collective payload"
    )
    in_switch_reduction_efficiency: float = Field(
        0.0, ge=0, le=1,
        description="share of the payload rate an in-switch reduction (NVLS) sustains; 0 without one",
    )
    link_bits_per_s: float | None = Field(
        None, gt=0, description="one scale-up link per direction (NVLink 5: 2 x 200G lanes = 400 Gb/s; TPU ICI "
        "400G); with switch_ports it sizes domains that span racks (tiers, chips, links that need optics)"
    )
    switch_ports: int | None = Field(
        None, gt=0, description="links one scale-up switch chip terminates at link_bits_per_s (its radix)"
    )


class PortConfig(BaseModel):
    """One way to group a switch's SerDes into ports."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    bits_per_s: float = Field(gt=0, description="port speed")
    count: int = Field(gt=0, le=100_000, description="number of ports at this speed")


class Switch(Entry):
    """A scale-out switch (one ASIC, one box unless stated)."""

    asic: str
    capacity_bits_per_s: float = Field(gt=0, description="switching capacity, one direction")
    serdes_lanes: int = Field(gt=0, le=1_000_000)
    lane_bits_per_s: float = Field(gt=0)
    port_configs: list[PortConfig] = Field(min_length=1)
    protocols: list[Literal["infiniband", "roce", "spectrum-x", "uec"]] = Field(
        min_length=1, description="transports the switch speaks; AWS EFA (SRD) needs none of its own: it rides any "
        "Ethernet switch (roce, spectrum-x or uec)")
    in_network_reduction: bool = False
    power_w: float = Field(gt=0, description="switch system power without pluggable optics")
    price_usd: float = Field(gt=0, description="switch system price without optics")
    rack_units: float = Field(gt=0)
    latency_s: float = Field(gt=0, description="port-to-port forwarding latency")
    co_packaged_optics: bool = False
    cage_bits_per_s: float | None = Field(
        None, gt=0, description="speed of one front-panel cage (one pluggable module): a twin-port 800G OSFP "
        "cage carries 2 x 400G ports; default: the fastest port speed"
    )

    def radix(self, port_bits_per_s: float) -> int:
        """Ports available at ``port_bits_per_s`` (0 if that speed is not offered)."""
        return max(
            (pc.count for pc in self.port_configs if abs(pc.bits_per_s - port_bits_per_s) < 1.0),
            default=0,
        )

    @property
    def port_speeds(self) -> list[float]:
        return sorted({pc.bits_per_s for pc in self.port_configs})

    @property
    def cage_speed(self) -> float:
        """Bits/s one pluggable module in this switch carries (several ports share a twin-port cage)."""
        return self.cage_bits_per_s or max(self.port_speeds)


class Nic(Entry):
    """A scale-out network adapter (or, for a cloud instance, its set of adapters per GPU)."""

    ports: int = Field(gt=0, le=1024)
    port_bits_per_s: float = Field(gt=0)
    protocols: list[Literal["infiniband", "roce", "spectrum-x", "uec", "efa"]] = Field(min_length=1)
    power_w: float = Field(gt=0)
    price_usd: float = Field(gt=0)
    gpus: list[str] = Field(
        default_factory=list, description="accelerators (catalog names) the adapter comes with, for adapters bound "
        "to one cloud instance type (AWS EFA); empty: any accelerator")
    per_gpu_bits_per_s: float | None = Field(
        None, gt=0, description="scale-out bandwidth each GPU of the instance gets from these adapters, per "
        "direction; the default of cluster.scale_out_per_gpu when set")
    net_plugin: str | None = Field(
        None, description="catalog name (net_plugins) of the collective library's network plugin that drives this "
        "adapter and what it changes in the library (aws-ofi-nccl per platform); None: the library's own transport")


MediumKind = Literal["dac", "aec", "aoc", "dsp", "lpo", "lro", "cpo", "xpo", "ocs"]


class Medium(Entry):
    """A way to carry one link: a copper cable, an optical module (one end), or an OCS port.

    For pluggable and co-packaged optics the figures are *per end* (per module or per
    optical engine port); a link has two ends plus ``fiber`` between them.  For cables
    with their ends built in (DAC, AEC, AOC) the figures are for the whole assembly.
    """

    kind: MediumKind
    family: str = Field(description="optics family a scenario picks by name: dsp, lpo, cpo, copper...")
    bits_per_s: float = Field(gt=0, description="link speed this part carries")
    reach_m: float = Field(gt=0, description="maximum link length")
    power_w: float = Field(ge=0, description="power per end (optics) or per cable assembly")
    price_usd: float = Field(ge=0, description="price per end (optics) or per cable assembly")
    per_end: bool = Field(description="True if power/price are per end (two per link)")
    connection_points: int = Field(
        ge=0, le=1_000, description="failure-prone connection points per link (connectors, wirebonds...)"
    )
    latency_s: float = Field(ge=0, default=0.0, description="added latency (DSP retiming)")
    fiber_price_usd_per_m: float = Field(ge=0, default=0.0)
    fit_per_end: float = Field(ge=0, default=0.0, description="failures per 1e9 hours per end")
    max_link_bits_per_s: float | None = Field(
        None, gt=0, description="fastest link one port of the module carries: a twin-port 800G (2 x 400G) module "
        "cannot carry an 800G link; default: bits_per_s"
    )
    connectors: int = Field(
        1, gt=0, description="fibre/cable connectors on one module: a twin-port 800G (2xDR4) OSFP has two MPO "
        "connectors of 400G each, an 800G DR8 one MPO-16; sets how many cables a tier needs"
    )
    module_ports: int = Field(
        1, gt=0, description="entries of this kind in one physical module: an XPO module holds 8 x 1.6T ports, "
        "a co-packaged optical engine serves several switch ports; 1 for an ordinary pluggable or cable"
    )

    @property
    def max_link_speed(self) -> float:
        return self.max_link_bits_per_s or self.bits_per_s

    @property
    def pj_per_bit(self) -> float:
        """Energy per bit of one end (or of the assembly), picojoules."""
        return self.power_w / self.bits_per_s * 1e12
