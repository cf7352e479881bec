"""一件事: one merged list of materials and one flow over the items of a bundle."""

from __future__ import annotations

from typing import Any

_FORM_STRENGTH = {"electronic": 0, "copy": 1, "original": 2}


def merged_materials(items: list[Any]) -> list[dict[str, Any]]:
    """Each material once, however many items ask for it: the strictest form, the most copies,
    required if any item requires it, and which items use it. Application forms stay per item."""
    merged: dict[str, dict[str, Any]] = {}
    for item in items:
        for material in item.guide.get("materials", []):
            name = material.get("name", "")
            entry = merged.get(name)
            if entry is None:
                merged[name] = {
                    "name": name,
                    "form": material.get("form", "original"),
                    "copies": int(material.get("copies", 1)),
                    "required": bool(material.get("required", True)),
                    "licence_type": material.get("licence_type"),
                    "used_by": [item.code],
                }
                continue
            if _FORM_STRENGTH.get(material.get("form", ""), 0) > _FORM_STRENGTH.get(entry["form"], 0):
                entry["form"] = material["form"]
            entry["copies"] = max(entry["copies"], int(material.get("copies", 1)))
            entry["required"] = entry["required"] or bool(material.get("required", True))
            entry["licence_type"] = entry["licence_type"] or material.get("licence_type")
            if item.code not in entry["used_by"]:
                entry["used_by"].append(item.code)
    return list(merged.values())


def merged_flow(items: list[Any], departments: dict[str, str]) -> list[dict[str, Any]]:
    """One submission, then each department's part in order, then one delivery of results."""
    flow: list[dict[str, Any]] = [
        {
            "step": 1,
            "name": "一次申请",
            "description": "填写一张合并申请表，上传一套材料",
            "items": [i.code for i in items],
        }
    ]
    for item in items:
        days = int(item.guide.get("promised_time_limit_days", 0) or 0)
        flow.append(
            {
                "step": len(flow) + 1,
                "name": item.name,
                "department": departments.get(item.department_code, ""),
                "items": [item.code],
                "time_limit_days": days,
            }
        )
    flow.append(
        {"step": len(flow) + 1, "name": "统一出件", "description": "办理结果一次送达或在粤省事领取", "items": []}
    )
    return flow
