"""HDF5 objects that read outside their own file: external links, external raw storage and virtual
datasets.

Each makes the values read through a file depend on another file, named inside it, that can change
or vanish after the file was checked (or be any file on the machine). hpbench never writes them, so
a prepared file or a Keras weights file that holds one is refused before anything is read from it.
"""

from __future__ import annotations

import h5py


def outside_references(handle: h5py.Group, soft_links: bool = False) -> list[str]:
    """Every object of ``handle`` that reads another file (and, with ``soft_links``, every soft link:
    another path to one of the file's own objects), as "name: what"; empty when there are none."""
    found: list[str] = []

    def walk(group: h5py.Group, prefix: str) -> None:
        for name in group:
            path = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                found.append(f"{path}: an external link to {link.filename}:{link.path}")
                continue
            if isinstance(link, h5py.SoftLink):
                if soft_links:
                    found.append(f"{path}: a soft link to {link.path}")
                continue
            item = group[name]
            if isinstance(item, h5py.Group):
                walk(item, f"{path}/")
            elif isinstance(item, h5py.Dataset):
                if item.is_virtual:
                    found.append(f"{path}: a virtual dataset over other files")
                elif item.external:
                    found.append(f"{path}: raw storage in an external file ({item.external[0][0]!r})")

    walk(handle, "")
    return found
