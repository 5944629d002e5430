"""Datasets and training: collect labelled examples from Discord (text, attachments, folders of the
data root), start training jobs on the configured provider, follow them live (a message edited
as events arrive), resume polling after a restart, and choose the active model.

Changes are restricted to the ``training`` permission group; anyone may look.

The modules by concern: :mod:`.schema` (tables, migrations, settings), :mod:`.datasets` (examples
and the ``dataset_examples`` and ``add_dataset_examples`` hooks), :mod:`.jobs` (starting,
cancelling and resuming jobs: a state machine whose primitives are in :mod:`.states`),
:mod:`.polling` (following jobs), :mod:`.activation` (which finished model becomes active), :mod:`.commands`,
:mod:`.privacy` (a user's data). The plugin object is this package: pluggy finds the hook
implementations among its attributes, so each one is imported here.
"""

from plugins.training.commands import register_commands
from plugins.training.datasets import add_dataset_examples, dataset_examples
from plugins.training.jobs import shutdown, startup
from plugins.training.privacy import delete_user_data, export_user_data
from plugins.training.schema import register_migrations, settings_model

__all__ = [
    "register_commands", "dataset_examples", "add_dataset_examples", "startup", "shutdown", "export_user_data",
    "delete_user_data", "register_migrations", "settings_model",
]
