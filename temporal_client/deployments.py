"""Worker versioning: promoting a build to the current version of q2c's Worker Deployment.

Workers started with ``Q2C_WORKER_DEPLOYMENT_NAME`` / ``Q2C_WORKER_BUILD_ID`` register their version; new
workflow and activity tasks go to the deployment's *current* version only. Deploying a change (the runbook):
run the replay tests against recorded histories, start the new build's workers beside the old ones, promote
it with ``q2c promote-build <build id>`` (or ``temporal worker deployment set-current-version``), and stop
the old workers once they are drained. q2c's workflows auto-upgrade, so a running order moves to the new
build at its next workflow task: every workflow change must replay old histories (patches).
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client


async def promote_build(client: Client, deployment_name: str, build_id: str) -> str | None:
    """Make ``deployment_name.build_id`` current; returns the previous current build id (None: none).

    The server refuses a version whose workers have not polled yet, so promote after the new workers are up."""
    response = await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment_name,
            build_id=build_id,
            identity=client.identity,
        )
    )
    previous = response.previous_deployment_version
    return previous.build_id or None
