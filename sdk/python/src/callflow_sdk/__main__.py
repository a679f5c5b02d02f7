"""``python -m callflow_sdk build app -o plugin.wasm``: as ``callflow-py``."""

import sys

from .build import main

sys.exit(main())
