"""PyTorch FlexAttention as an attention kernel, and software profiles that extend another one.

The catalog's FlexAttention figures are the FlashAttention-2 ones scaled by the measured Flex / FA2 ratios
(forward and backward, weighted 1 : 2.5 like every attention efficiency): H100 1.25 and 1.03 (GTC 2025 session
abstract, in the PyTorch blog 'PyTorch at GTC 2025'), A100 0.90 and 0.85 (PyTorch blog 'FlexAttention', 2024)."""

import pytest

from fabricsim.catalog import load_catalog
from fabricsim.catalog.inherit import BOOKKEEPING
from fabricsim.catalog.loader import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.workload.compute import attention_efficiency


def weighted(forward_ratio: float, backward_ratio: float) -> float:
    """Speed ratio of one forward plus 2.5 backward FLOPs when each pass runs at its own ratio."""
    return 3.5 / (1 / forward_ratio + 2.5 / backward_ratio)


@pytest.mark.parametrize("gpu, forward_ratio, backward_ratio, digits", [
    ("h100-sxm", 1.25, 1.03, 2), ("h200-sxm", 1.25, 1.03, 2), ("h800-sxm", 1.25, 1.03, 2),
    ("a100-sxm", 0.90, 0.85, 3), ("a100-sxm-40gb", 0.90, 0.85, 3),
])
def test_flex_efficiency_is_flash2_times_the_measured_ratios(gpu, forward_ratio, backward_ratio, digits):
    table = default_catalog().get("gpus", gpu).attention_efficiency
    assert table["flex"] == round(table["flash2"] * weighted(forward_ratio, backward_ratio), digits)


def test_flex_on_hopper_sits_between_flashattention2_and_cudnn():
    """1.08x FlashAttention-2 and, at 4,096 tokens, 0.76x of cuDNN's curve (0.649 x 4096 / (4096 + 1199))."""
    table = default_catalog().get("gpus", "h100-sxm").attention_efficiency
    assert table["flex"] / table["flash2"] == pytest.approx(1.085, abs=0.005)
    assert table["flex"] / (table["native"] * 4096 / (4096 + 1199)) == pytest.approx(0.76, abs=0.01)


def test_the_flexattention_profile_is_automodel_with_another_kernel():
    catalog = default_catalog()
    flex = catalog.get("software", "automodel-2025-flexattn")
    parent = catalog.get("software", "automodel-2025")
    assert flex.extends == "automodel-2025" and flex.attention == "flex" and parent.attention == "native"
    different = {name for name in type(flex).model_fields if name not in BOOKKEEPING
                 and getattr(flex, name) != getattr(parent, name)}
    assert different == {"attention"}
    assert flex.assumptions["comm_sms"].startswith("unchanged from automodel-2025: ")


def test_the_kernel_sets_the_rate_a_training_step_uses():
    """Same GPU, same model heads (128 wide), no length curve for flex: the efficiencies are the table's."""
    catalog = default_catalog()
    gpu = catalog.get("gpus", "h100-sxm")
    flex = attention_efficiency(gpu, catalog.get("software", "automodel-2025-flexattn"), None)
    native = attention_efficiency(gpu, catalog.get("software", "automodel-2025"), None)
    assert flex / native == pytest.approx(0.38 / 0.649, rel=1e-12)
    assert flex == pytest.approx(0.38 * gpu.sustained_compute_ratio, rel=1e-12)


def test_a_user_profile_that_changes_a_field_must_cite_it(tmp_path):
    path = tmp_path / "cat.yaml"
    path.write_text("software:\n  my-stack:\n    extends: automodel-2025\n    source: 'our cluster, 2026'\n"
                    "    attention: flash2\n")
    with pytest.raises(FabricsimError, match="changes attention of automodel-2025 without citing it"):
        load_catalog([path])
    path.write_text(path.read_text() + "    sources: {attention: 'flash-attn 2.8 in our image'}\n")
    mine = load_catalog([path]).get("software", "my-stack")
    assert mine.attention == "flash2" and mine.comm_sms == default_catalog().get("software", "automodel-2025").comm_sms


def test_an_inherited_figure_keeps_its_parents_citation():
    """A figure the parent cites only by its entry-level source is shown with that source, not the child's."""
    catalog = default_catalog()
    flex = catalog.get("software", "automodel-2025-flexattn")
    parent = catalog.get("software", "automodel-2025")
    assert "tp_comm_overlap" not in parent.sources and "tp_comm_overlap" not in parent.assumptions
    assert flex.source_of("tp_comm_overlap") == f"unchanged from automodel-2025: {parent.source}"
    assert flex.source_of("attention") == flex.sources["attention"]  # the changed figure: the child's citation
    assert flex.source_of("dp_overlap") == f"unchanged from automodel-2025: {parent.sources['dp_overlap']}"
