"""The CPU training loss: causal-LM cross-entropy over the answer tokens only.

TRL's default loss runs a chunked LM head over *every* position on devices without Triton
(prompt tokens included) and computes entropy and top-1 accuracy tiles on the side. Here the
backbone runs once and only the positions whose next token is trained go through the LM head
(the same loss; the speed-up is measured in benchmarks/README.md). On CUDA TRL's Triton
kernel already does the equivalent.
"""

from __future__ import annotations

from typing import Any

# Above this many logits (answer tokens x vocabulary) the LM head runs in checkpointed chunks,
# so a long batch on a big-vocabulary model does not hold several GB of logits at once.
_MAX_LOGITS = 64 * 1024 * 1024


def selective_loss(
    model: Any, inputs: dict[str, Any], num_items: Any, head: Any = None
) -> tuple[Any, Any, Any]:
    """Causal-LM loss over the answer tokens only: run the backbone, then project just the
    positions whose next-token label is trained through the LM head. Returns (loss, logits of
    those positions, their targets); the sum is divided by ``num_items`` (all trained tokens of
    the accumulated batch) exactly as TRL and transformers do, so gradient accumulation holds.
    ``head`` computes the LM head's logits (default: the model's output embeddings)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k != "labels"}
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(lm, lm.base_model_prefix)
    hidden = backbone(**forward, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    h, t = hidden[mask], targets[mask]
    head = head or lm.get_output_embeddings()

    def chunk_loss(hh: Any, tt: Any) -> Any:
        return F.cross_entropy(head(hh).float(), tt, reduction="sum")

    vocab = lm.get_output_embeddings().weight.shape[0]
    if h.shape[0] * vocab <= _MAX_LOGITS:
        logits = head(h).float()
        total = F.cross_entropy(logits, t, reduction="sum")
    else:
        logits = None
        rows = max(1, _MAX_LOGITS // vocab)
        total = sum(
            checkpoint(chunk_loss, hh, tt, use_reentrant=False)
            for hh, tt in zip(h.split(rows), t.split(rows), strict=True)
        )
    n = mask.sum() if num_items is None else num_items
    return total / torch.as_tensor(n, device=total.device).clamp(min=1), logits, t


def selective_loss_trainer() -> Any:
    """The SFTTrainer subclass used on CPU (imports TRL, so call it when training)."""
    from trl import SFTTrainer

    class SelectiveLossSFTTrainer(SFTTrainer):  # type: ignore[misc]
        """SFTTrainer whose loss projects only answer tokens through the LM head (CPU path)."""

        head: Any = None  # set by build_trainer: the LM head through oneDNN's kernel

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            import torch

            mode = "train" if model.training else "eval"
            loss, logits, targets = selective_loss(model, inputs, num_items_in_batch, self.head)
            if logits is not None and targets.numel():
                with torch.no_grad():  # one argmax pass; TRL's entropy tiles cost far more
                    acc = (logits.argmax(-1) == targets).float().mean().item()
                self._metrics[mode]["mean_token_accuracy"].append(acc)
            if mode == "train":
                if "attention_mask" in inputs:
                    self._total_train_tokens += int(inputs["attention_mask"].sum())
                else:
                    self._total_train_tokens += int(inputs["input_ids"].numel())
            return (loss, None) if return_outputs else loss

    return SelectiveLossSFTTrainer
