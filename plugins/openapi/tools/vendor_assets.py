"""Re-vendor Swagger UI and ReDoc into ``areion_openapi/static/`` (maintainer tool, needs network).

Run from ``plugins/openapi``::

    python tools/vendor_assets.py

It downloads the pinned releases into a temporary directory with the ordinary clients
(``pip download``, ``npm pack``), copies only the files the docs pages load plus their licence
files, and applies the few patches listed in ``PATCHES``. Each patch must match exactly once,
so a new upstream release that moves the code fails loudly here instead of shipping a page
that talks to the internet. After running it, update the versions in ``_assets.py`` and the
README, and run the plugin's tests (``test_assets_offline.py`` scans every served asset).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SWAGGER_UI_VERSION = "5.31.0"
REDOC_VERSION = "2.5.4"

STATIC = Path(__file__).resolve().parent.parent / "areion_openapi" / "static"

#: (file, old, new, why). ``old`` must occur exactly once in the upstream file.
PATCHES: list[tuple[str, str, str, str]] = [
    (
        "swagger-ui-bundle.js",
        'validatorUrl:"https://validator.swagger.io/validator"',
        "validatorUrl:null",
        ("the default config would send the document to the public validator; the page also "
         "passes validatorUrl: null, this makes the bundle safe on its own"),
    ),
    (
        "swagger-ui-bundle.js",
        'validatorUrl:void 0===a?"https://validator.swagger.io/validator":a',
        "validatorUrl:void 0===a?null:a",
        "the validator badge's own fallback to the public validator",
    ),
    (
        "swagger-ui-bundle.js",
        'validatorUrl:void 0===i?"https://validator.swagger.io/validator":i',
        "validatorUrl:void 0===i?null:i",
        "the same fallback when the badge's props change",
    ),
    (
        "redoc.standalone.js",
        ('e?n.createElement("img",{alt:"redocly logo",onError:()=>t(!1),'
         'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"}):null'),
        "null",
        ("ReDoc 2 loads its 'API docs by Redocly' logo from the vendor's CDN; CSS cannot stop "
         "an <img> from being fetched, so the element is not created (the text link stays)"),
    ),
    (
        "redoc.standalone.js",
        "\n//# sourceMappingURL=redoc.standalone.js.map",
        "",
        "the source map is not shipped; the comment would make devtools request it (404)",
    ),
    (
        "redoc.standalone.js",
        "\\n//# sourceMappingURL=d87bcbdbea8f8f5aa26f.worker.js.map",
        "",
        "the same for the search worker's source, which the bundle carries as a string",
    ),
    (
        "swagger-ui.css",
        "\n\n/*# sourceMappingURL=swagger-ui.css.map*/",
        "",
        "the source map is not shipped; the comment would make devtools request it (404)",
    ),
]


def _run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def _download(tmp: Path) -> dict[str, Path]:
    """Fetch the three upstream packages; returns name -> extracted directory."""
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp),
          f"swagger-ui-bundle-v2=={SWAGGER_UI_VERSION}"], tmp)
    # The PyPI wheel carries the JS and CSS but neither Swagger UI's NOTICE nor the bundle's
    # third-party licence file; the npm release of the same version has both.
    _run(["npm", "pack", f"swagger-ui-dist@{SWAGGER_UI_VERSION}"], tmp)
    _run(["npm", "pack", f"redoc@{REDOC_VERSION}"], tmp)
    wheel = next(tmp.glob("swagger_ui_bundle_v2-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp / "wheel")
    out = {"wheel": tmp / "wheel" / "swagger_ui_bundle" / "vendor" / f"swagger-ui-{SWAGGER_UI_VERSION}"}
    for name, tgz in (("dist", f"swagger-ui-dist-{SWAGGER_UI_VERSION}.tgz"),
                      ("redoc", f"redoc-{REDOC_VERSION}.tgz")):
        with tarfile.open(tmp / tgz) as tf:
            tf.extractall(tmp / name, filter="data")
        out[name] = tmp / name / "package"
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        src = _download(Path(d))
        files = {
            "swagger-ui-bundle.js": src["wheel"] / "swagger-ui-bundle.js",
            "swagger-ui.css": src["wheel"] / "swagger-ui.css",
            "oauth2-redirect.js": src["wheel"] / "oauth2-redirect.js",
            "swagger-ui-bundle.js.LICENSE.txt": src["dist"] / "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui.LICENSE": src["dist"] / "LICENSE",
            "swagger-ui.NOTICE": src["dist"] / "NOTICE",
            "redoc.standalone.js": src["redoc"] / "bundles" / "redoc.standalone.js",
            "redoc.standalone.js.LICENSE.txt": src["redoc"] / "bundles" / "redoc.standalone.js.LICENSE.txt",
            "redoc.LICENSE": src["redoc"] / "LICENSE",
        }
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "oauth2-redirect.js"):
            if (src["dist"] / name).read_bytes() != files[name].read_bytes():
                raise SystemExit(f"{name}: the PyPI and npm releases differ; check before vendoring")
        # Bytes, not text: reading as text would translate any CR inside the minified code.
        data = {name: path.read_bytes() for name, path in files.items()}
        for name, old, new, _why in PATCHES:
            count = data[name].count(old.encode())
            if count != 1:
                raise SystemExit(f"patch for {name} matched {count} times, expected 1: {old[:60]!r}")
            data[name] = data[name].replace(old.encode(), new.encode())
        # The bundles' first line points readers at "<bundle>.LICENSE.txt"; keep that name.
        STATIC.mkdir(parents=True, exist_ok=True)
        for name, blob in data.items():
            (STATIC / name).write_bytes(blob)
            print("wrote", STATIC / name)
        shutil.rmtree(Path(d), ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
