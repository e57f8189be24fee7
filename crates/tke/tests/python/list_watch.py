"""The Python `kubernetes` client (Debian's python3-kubernetes) against tke-rs: create, list
with paging, get, patch, and a watch that sees a change, for platform.tkestack.io clusters."""

import os
import sys
import threading

from kubernetes import client, config, watch

GROUP, VERSION, PLURAL = "platform.tkestack.io", "v1", "clusters"


def main():
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    api = client.CustomObjectsApi()

    for i in range(5):
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Cluster",
            "metadata": {"name": f"cls-py{i}", "labels": {"client": "python"}},
            "spec": {"type": "Imported", "version": "1.32.0"},
            "status": {"addresses": [{"type": "Advertise", "host": f"10.0.0.{i + 1}", "port": 6443}]},
        }
        api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)

    # Paging: two per page, following `continue` to the end.
    names, token = [], None
    while True:
        kwargs = {"limit": 2, "label_selector": "client=python"}
        if token:
            kwargs["_continue"] = token
        page = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
        assert len(page["items"]) <= 2, page
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"cls-py{i}" for i in range(5)], names

    got = api.get_cluster_custom_object(GROUP, VERSION, PLURAL, "cls-py0")
    assert got["spec"]["tenantID"] == "default", got
    rv = page["metadata"]["resourceVersion"]

    # A watch from the list's resourceVersion sees the next change, and only it.
    seen = []
    done = threading.Event()

    def run_watch():
        w = watch.Watch()
        for ev in w.stream(api.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                           resource_version=rv, timeout_seconds=30):
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            if ev["object"]["metadata"]["name"] == "cls-py3":
                w.stop()
                break
        done.set()

    t = threading.Thread(target=run_watch)
    t.start()
    api.patch_cluster_custom_object(GROUP, VERSION, PLURAL, "cls-py3", {"spec": {"displayName": "patched"}})
    assert done.wait(30), "the watch did not see the patch within 30s"
    t.join()
    assert seen == [("MODIFIED", "cls-py3")], seen

    # Errors arrive as ApiException with the Kubernetes status.
    try:
        api.get_cluster_custom_object(GROUP, VERSION, PLURAL, "cls-missing")
        raise AssertionError("expected NotFound")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e

    print("python client: ok")


if __name__ == "__main__":
    sys.exit(main())
