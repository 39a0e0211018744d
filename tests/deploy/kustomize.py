"""A small kustomize for the tests: renders deploy/kubernetes (the ``kustomize`` binary is not
available here). It does what our kustomizations use and no more: resources (files and
directories), components, ``labels`` (metadata only), ``namespace``, ``images``, and
strategic-merge ``patches`` (maps merged, lists of named maps merged by name, other lists
replaced, ``$patch: delete`` removes the object)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"}
POD_TEMPLATES = {"Deployment": ("spec", "template"), "Job": ("spec", "template")}


def load_all(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path, *, components: list[Path] | None = None) -> list[Object]:
    """The objects ``kubectl apply -k directory`` would apply (``components``: extra ones, as
    an overlay's ``components:`` would list)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[Object] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objects.extend(render(path) if path.is_dir() else load_all(path))
    extra = [directory / c for c in kustomization.get("components", [])] + (components or [])
    for component in extra:
        objects = apply_component(objects, component.resolve())
    return transform(objects, kustomization, directory)


def apply_component(objects: list[Object], directory: Path) -> list[Object]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    for resource in kustomization.get("resources", []):
        objects = [*objects, *load_all(directory / resource)]
    return transform(objects, kustomization, directory)


def transform(objects: list[Object], kustomization: Object, directory: Path) -> list[Object]:
    objects = copy.deepcopy(objects)
    for patch in kustomization.get("patches", []):
        for document in patch_documents(patch, directory):
            objects = apply_patch(objects, document)
    for entry in kustomization.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    namespace = kustomization.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        set_image(objects, image)
    return objects


def patch_documents(patch: Object, directory: Path) -> list[Object]:
    if "path" in patch:
        return load_all(directory / patch["path"])
    return [d for d in yaml.safe_load_all(patch["patch"]) if d]


def set_image(objects: list[Object], image: Object) -> None:
    for container in containers(objects):
        name = container["image"].partition(":")[0]
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


def containers(objects: list[Object]) -> list[Object]:
    found = []
    for obj in objects:
        if obj["kind"] in POD_TEMPLATES:
            spec = obj["spec"]["template"]["spec"]
            found.extend(spec.get("containers", []) + spec.get("initContainers", []))
    return found


def same(a: Object, b: Object) -> bool:
    return bool(
        a["kind"] == b["kind"]
        and a["metadata"]["name"] == b["metadata"]["name"]
        and a["apiVersion"].split("/")[0] == b["apiVersion"].split("/")[0]
    )


def apply_patch(objects: list[Object], patch: Object) -> list[Object]:
    matches = [o for o in objects if same(o, patch)]
    assert len(matches) == 1, (
        f"patch {patch['kind']}/{patch['metadata']['name']} matches {len(matches)}"
    )
    if patch.get("$patch") == "delete":
        return [o for o in objects if o is not matches[0]]
    merge(matches[0], patch)
    return objects


def merge(target: Object, patch: Object) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list) and named(value):
            by_name = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)
