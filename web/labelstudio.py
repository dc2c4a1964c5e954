"""Results as Label Studio predictions, so people can review and correct labels there.

One task per labelled image, the prediction as a `choices` result on an image, matching the
labelling config from `labelling_config` (Label Studio's image classification template).
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

from labeler.protocol import Item

FROM_NAME, TO_NAME = "choice", "image"


def labelling_config(class_names: Iterable[str]) -> str:
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def prediction_tasks(
    items: Iterable[Item], image_url, model_version: str
) -> list[dict]:
    """`image_url(path)` gives the address Label Studio loads each image from. Failed images
    have no prediction but stay in as tasks, so nobody forgets to look at them."""
    tasks = []
    for path, result, error in items:
        task: dict = {"data": {"image": image_url(path), "path": path}}
        if result is None:
            task["data"]["error"] = error
            task["predictions"] = []
        else:
            task["predictions"] = [{
                "model_version": result.model or model_version,
                "score": result.confidence,
                "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                            "value": {"choices": [result.label]}}],
            }]
        tasks.append(task)
    return tasks
