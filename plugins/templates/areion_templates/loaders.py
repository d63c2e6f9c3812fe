"""Finding templates: directories first, then templates shipped inside packages.

Names without a prefix (``"page.html"``) are looked up in every directory, in order, and then
in every registered package, in order; so an app overrides a plugin's ``admin/base.html`` by
putting its own copy in its templates directory. A name with a package prefix
(``"areion_admin:base.html"``) is looked up in that package only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import jinja2

from .settings import PackageTemplates

PACKAGE_DELIMITER = ":"

SourceTriple = tuple[str, str | None, Callable[[], bool] | None]


class TemplateNotFoundError(jinja2.TemplateNotFound):
    """A template that no directory or package holds; the message lists where it looked.

    A subclass of ``jinja2.TemplateNotFound``, so existing ``except`` clauses still match.
    """

    def __init__(self, name: str, searched: Sequence[str]) -> None:
        self.searched = list(searched)
        where = "; ".join(self.searched) if self.searched else "nowhere (no directories or packages configured)"
        super().__init__(name, f"template {name!r} not found. Searched, in order: {where}")

    def __str__(self) -> str:
        return str(self.message)


class TemplateLoader(jinja2.BaseLoader):
    """One loader for the app: ``FileSystemLoader`` directories plus ``PackageLoader`` packages."""

    def __init__(self, directories: Sequence[str], packages: Sequence[PackageTemplates] = ()) -> None:
        self.directories = [os.path.abspath(d) for d in directories]
        self._files = jinja2.FileSystemLoader(self.directories)
        self.packages: dict[str, PackageTemplates] = {}
        self._package_loaders: dict[str, jinja2.PackageLoader] = {}
        for spec in packages:
            self.add_package(spec)

    def add_package(self, spec: PackageTemplates) -> None:
        """Register a package's template folder (imports the package; raises if it has none)."""
        if spec.package in self.packages:
            if self.packages[spec.package] == spec:
                return
            raise ValueError(f"package {spec.package!r} already ships templates from "
                             f"{self.packages[spec.package].path!r}")
        self._package_loaders[spec.package] = jinja2.PackageLoader(spec.package, spec.path)
        self.packages[spec.package] = spec

    def get_source(self, environment: jinja2.Environment, template: str) -> SourceTriple:
        package, sep, rest = template.partition(PACKAGE_DELIMITER)
        if sep:
            loader = self._package_loaders.get(package)
            if loader is not None:
                try:
                    return loader.get_source(environment, rest)
                except jinja2.TemplateNotFound:
                    raise TemplateNotFoundError(template, self.searched(template)) from None
        try:
            return self._files.get_source(environment, template)
        except jinja2.TemplateNotFound:
            pass
        if not sep:
            for loader in self._package_loaders.values():
                try:
                    return loader.get_source(environment, template)
                except jinja2.TemplateNotFound:
                    continue
        raise TemplateNotFoundError(template, self.searched(template))

    def list_templates(self) -> list[str]:
        names = set(self._files.list_templates())
        for package, loader in self._package_loaders.items():
            names.update(f"{package}{PACKAGE_DELIMITER}{n}" for n in loader.list_templates())
        return sorted(names)

    def searched(self, template: str) -> list[str]:
        """Human-readable places a lookup of ``template`` tried, in order."""
        package, sep, _ = template.partition(PACKAGE_DELIMITER)
        if sep and package in self.packages:
            return [self._describe_package(package)]
        places = [f"directory {d}" + ("" if os.path.isdir(d) else " (does not exist)") for d in self.directories]
        if sep:
            known = ", ".join(self.packages) or "none"
            places.append(f"no package {package!r} ships templates (registered packages: {known})")
        else:
            places.extend(self._describe_package(p) for p in self.packages)
        return places

    def _describe_package(self, package: str) -> str:
        root = getattr(self._package_loaders[package], "_template_root", self.packages[package].path)
        return f"package {package} ({root})"

    def name_for(self, filename: str) -> str | None:
        """The template name that loads ``filename`` (for error pages), or None."""
        real = os.path.realpath(filename)
        for directory in self.directories:
            rel = _relative(real, os.path.realpath(directory))
            if rel is not None:
                return rel
        for package, loader in self._package_loaders.items():
            root: Any = getattr(loader, "_template_root", None)
            if isinstance(root, str):
                rel = _relative(real, os.path.realpath(root))
                if rel is not None:
                    return f"{package}{PACKAGE_DELIMITER}{rel}"
        return None


def _relative(path: str, root: str) -> str | None:
    prefix = root.rstrip(os.sep) + os.sep
    if path.startswith(prefix):
        return path[len(prefix):].replace(os.sep, "/")
    return None
