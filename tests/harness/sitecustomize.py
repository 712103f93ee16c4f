"""Test harness for the browser tests (tests/conftest.py `ui_server` puts this folder on PYTHONPATH of
the `marktwijzer ui` it starts; nothing else imports it).

With MARKTWIJZER_TEST_DELTA_DELAY_S set, the in-process answer stream waits that long between its
pieces (the first piece comes at once). The extractive answer is otherwise drawn within a few
milliseconds, so "a follow-up typed while the first answer is still being drawn" (issue 17) would
depend on the machine's speed; paced, the test hits that moment every time, as a slow model would.
"""

import os

_DELAY = float(os.environ.get("MARKTWIJZER_TEST_DELTA_DELAY_S") or 0)

if _DELAY > 0:
    import time

    import ui.backend as _backend

    _split = _backend.split_deltas

    def _paced(text: str, words_per_delta: int = 3):  # noqa: ANN202
        for index, piece in enumerate(_split(text, words_per_delta)):
            if index:
                time.sleep(_DELAY)
            yield piece

    _backend.split_deltas = _paced
