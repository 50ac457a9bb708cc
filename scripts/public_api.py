"""Write the provider's parameter ids and output names to tests/data/public_api.json (after a release lands).

tests/processing/test_public_api.py then checks that every one of them still exists: they are what users'
models, batch files and qgis_process scripts name.
"""

from __future__ import annotations

import json

from standalone import ROOT, start_qgis


def main() -> None:
    app, provider = start_qgis()  # noqa: F841 - keep the application alive while reading
    api = {
        a.id(): {
            "parameters": [d.name() for d in a.parameterDefinitions()],
            "outputs": [o.name() for o in a.outputDefinitions()],
        }
        for a in sorted(provider.algorithms(), key=lambda a: a.id())
    }
    path = ROOT / "tests" / "data" / "public_api.json"
    path.write_text(json.dumps(api, indent=1) + "\n", encoding="utf-8")
    print(f"{path}: {len(api)} algorithms")


if __name__ == "__main__":
    main()
