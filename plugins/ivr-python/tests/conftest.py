import sys
from pathlib import Path

# The plugin module sits beside tests/, as componentize-py sees it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
