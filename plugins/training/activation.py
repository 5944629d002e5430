"""Which model is active once a training job succeeds: ``[plugins.training] activate``.

- ``always``: the new model becomes the active one.
- ``never``: it is kept ready; ``model use`` activates it.
- ``if-better`` (the default): the first model is activated; after that the new model and the
  active one are both scored on the held-out split of the job's dataset (examples never trained
  on), and the new one is activated when it scores at least as well (a tie goes to the newer model,
  trained on more data). Without a held-out split there is nothing to judge on: the active model stays.

The verdict is decided before the job's success is stored, and stored with it in one transaction
(the scores and the sentence shown in the job's message), so a bot stopped while scoring polls the
job again at its next start and judges again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from framework import sql as sa
from framework.commands import UserError
from framework.errors import ProviderError
from framework.providers import trained_models
from plugins.training.datasets import dataset_rows, split_rows
from plugins.training.schema import Settings

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Verdict:
    activate: bool
    message: str
    """What was activated and why: shown at the end of the job's message."""
    accuracy: float | None = None
    """The new model's accuracy on the held-out split (when scored)."""
    baseline: float | None = None
    """The active model's accuracy on the same split (when compared)."""


async def _accuracy(app: Host, provider_name: str, model_id: str, instruction: str, rows: list[Any],
                    labels: list[str]) -> float:
    provider = app.engines.providers.get(provider_name)
    predicted = await provider.predict(model_id, [r.text for r in rows], labels, instruction=instruction)
    right = sum(str(p).strip().lower() == r.label.lower() for p, r in zip(predicted, rows, strict=False))
    return right / len(rows)


async def judge(app: Host, job: Any, model_id: str) -> Verdict:
    """The verdict for ``model_id``, the model ``job`` produced (see the module's docstring)."""
    settings: Settings = app.settings("training")
    policy = settings.activate
    use = f"`model use {model_id}` makes it the active one"
    if policy == "always":
        return Verdict(True, f"Activated `{model_id}` (`[plugins.training] activate = \"always\"`).")
    if policy == "never":
        return Verdict(False, f"Not activated (`[plugins.training] activate = \"never\"`): {use}.")
    async with app.storage.connect() as conn:
        active = (await conn.execute(sa.select(trained_models).where(trained_models.c.active))).first()
    if active is not None and active.model_id == model_id:
        return Verdict(True, f"`{model_id}` is the active model.")
    try:
        ds, rows = await dataset_rows(app, job.dataset)
        held_out = split_rows(rows, settings.holdout)[1]
    except UserError:  # the dataset was removed meanwhile
        held_out, labels = [], []
    else:
        labels = json.loads(ds.labels)
    where = f"on the {len(held_out)} held-out example(s) of `{job.dataset}`"
    accuracy: float | None = None
    if held_out:
        try:
            accuracy = await _accuracy(app, job.provider, model_id, job.instruction, held_out, labels)
        except (ProviderError, UserError) as exc:
            log.warning("could not score model %s of training job %s: %s", model_id, job.id, exc)
    if active is None:
        scored = f" (accuracy {accuracy:.2f} {where})" if accuracy is not None else ""
        return Verdict(True, f"Activated `{model_id}`, the first model{scored}.", accuracy)
    if not held_out:
        return Verdict(False, f"Kept `{active.model_id}` active: `{job.dataset}` has no held-out examples to compare "
                              f"the models on (`[plugins.training] holdout`); {use}.")
    if accuracy is None:
        return Verdict(False, f"Kept `{active.model_id}` active: `{model_id}` could not be scored (see the bot's "
                              f"log); {use}.")
    try:
        baseline = await _accuracy(app, active.provider, active.model_id, active.instruction, held_out, labels)
    except (ProviderError, UserError) as exc:  # the active model's provider is gone or refuses: the new one wins
        log.warning("could not score the active model %s: %s", active.model_id, exc)
        return Verdict(True, f"Activated `{model_id}` (accuracy {accuracy:.2f} {where}; the active model "
                             f"`{active.model_id}` could not be scored).", accuracy)
    if accuracy >= baseline:
        return Verdict(True, f"Activated `{model_id}` (accuracy {accuracy:.2f} {where}, was {baseline:.2f} with "
                             f"`{active.model_id}`).", accuracy, baseline)
    return Verdict(False, f"Kept `{active.model_id}` active: `{model_id}` scored {accuracy:.2f} vs {baseline:.2f} "
                          f"{where}; {use}.", accuracy, baseline)
