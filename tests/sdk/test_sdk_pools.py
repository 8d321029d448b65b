"""Issue 27: the official SDK's (`huaweicloudsdkdli`) calls around queues and pools, unchanged:
a pool's queues and their scaling policies, moving a queue into a pool, pool update, queue
action and CIDR, queue properties, quotas and DLI's agency. Each raw answer validates against
DLI's definition where the API Explorer package has one (tests/fixtures/dli-definitions/), and
is read by the SDK's own response model."""

from huaweicloudsdkdli.v1 import (
    AdvancedQueueProperty,
    AssociateQueueToElasticResourcePoolRequest,
    AssociateQueueToElasticResourcePoolRequestBody,
    CommonQueueProperty,
    CreateDliAgencyRequest,
    CreateDliAgencyRequestBody,
    CreateQueuePropertyRequest,
    CreateQueuePropertyRequestBody,
    DeleteQueuePropertyRequest,
    DeleteQueuePropertyRequestBody,
    ListElasticResourcePoolQueuesRequest,
    ListElasticResourcePoolsRequest,
    ListQueuePropertiesRequest,
    QueueScalingPolicy,
    RunQueueActionRequest,
    RunQueueActionRequestBody,
    ShowDliAgencyRequest,
    ShowQueueRequest,
    ShowQuotaRequest,
    UpdateElasticResourcePoolQueueRequest,
    UpdateElasticResourcePoolQueueRequestBody,
    UpdateElasticResourcePoolRequest,
    UpdateElasticResourcePoolRequestBody,
    UpdateQueueCidrRequest,
    UpdateQueueCidrRequestBody,
    UpdateQueuePropertyRequest,
    UpdateQueuePropertyRequestBody,
)

from helpers import expect_error
from test_sdk_queues import conforms, create_pool, create_queue, list_queues, queue_name


def policies():
    return [QueueScalingPolicy(priority=1, impact_start_time="00:00", impact_stop_time="09:00",
                               min_cu=16, max_cu=32),
            QueueScalingPolicy(priority=2, impact_start_time="09:00", impact_stop_time="24:00",
                               min_cu=16, max_cu=64, inherit_elastic_resource_pool_max_cu=True)]


def test_a_pools_queues_and_their_scaling_policies_through_the_sdk(dli):
    pool, inside, outside = queue_name(), queue_name(), queue_name()
    create_pool(dli, pool, min_cu=16, max_cu=64)
    create_queue(dli, inside, elastic_resource_pool_name=pool)
    create_queue(dli, outside)

    listed = dli.list_elastic_resource_pool_queues(
        ListElasticResourcePoolQueuesRequest(elastic_resource_pool_name=pool))
    conforms(dli, "ListElasticResourcePoolQueues", 200)
    assert (listed.count, [q.queue_name for q in listed.queues]) == (1, [inside])
    assert (listed.queues[0].queue_scaling_policies, listed.queues[0].engine) == ([], "spark")

    moved = dli.associate_queue_to_elastic_resource_pool(AssociateQueueToElasticResourcePoolRequest(
        elastic_resource_pool_name=pool,
        body=AssociateQueueToElasticResourcePoolRequestBody(queue_name=outside)))
    conforms(dli, "AssociateQueueToElasticResourcePool", 200)
    assert moved.is_success is True
    expect_error(dli, lambda: dli.associate_queue_to_elastic_resource_pool(
        AssociateQueueToElasticResourcePoolRequest(
            elastic_resource_pool_name=pool,
            body=AssociateQueueToElasticResourcePoolRequestBody(queue_name="no_such_queue"))),
        400, "DLI.0002", says="no_such_queue")

    updated = dli.update_elastic_resource_pool_queue(UpdateElasticResourcePoolQueueRequest(
        elastic_resource_pool_name=pool, queue_name=inside,
        body=UpdateElasticResourcePoolQueueRequestBody(queue_scaling_policies=policies())))
    assert updated.is_success is True
    page = dli.list_elastic_resource_pool_queues(ListElasticResourcePoolQueuesRequest(
        elastic_resource_pool_name=pool, queue_name=inside.upper(), limit=10, offset=0))
    conforms(dli, "ListElasticResourcePoolQueues", 200)
    (queue,) = page.queues
    assert [(p.priority, p.impact_start_time, p.impact_stop_time, p.min_cu, p.max_cu)
            for p in queue.queue_scaling_policies] == [(1, "00:00", "09:00", 16, 32),
                                                       (2, "09:00", "24:00", 16, 64)]
    assert queue.queue_scaling_policies[1].inherit_elastic_resource_pool_max_cu is True
    second = dli.list_elastic_resource_pool_queues(ListElasticResourcePoolQueuesRequest(
        elastic_resource_pool_name=pool, limit=1, offset=1))
    assert (second.count, len(second.queues)) == (2, 1)
    past = dli.list_elastic_resource_pool_queues(ListElasticResourcePoolQueuesRequest(
        elastic_resource_pool_name=pool, limit=10, offset=2))
    assert past.queues == [], "an empty page past the end ends golangsdk's pager"

    overlapping = [QueueScalingPolicy(priority=1, impact_start_time="00:00", impact_stop_time="10:00",
                                      min_cu=16, max_cu=32),
                   QueueScalingPolicy(priority=2, impact_start_time="09:00", impact_stop_time="24:00",
                                      min_cu=16, max_cu=32)]
    expect_error(dli, lambda: dli.update_elastic_resource_pool_queue(UpdateElasticResourcePoolQueueRequest(
        elastic_resource_pool_name=pool, queue_name=inside,
        body=UpdateElasticResourcePoolQueueRequestBody(queue_scaling_policies=overlapping))),
        400, "DLI.0001", says="overlaps")

    changed = dli.update_elastic_resource_pool(UpdateElasticResourcePoolRequest(
        elastic_resource_pool_name=pool,
        body=UpdateElasticResourcePoolRequestBody(description="resized", max_cu=128, min_cu=32)))
    assert changed.is_success is True
    (shown,) = dli.list_elastic_resource_pools(ListElasticResourcePoolsRequest(name=pool)).elastic_resource_pools
    conforms(dli, "ListElasticResourcePools", 200)
    assert (shown.description, shown.min_cu, shown.max_cu) == ("resized", 32, 128)
    assert shown.update_time >= shown.create_time
    expect_error(dli, lambda: dli.update_elastic_resource_pool(UpdateElasticResourcePoolRequest(
        elastic_resource_pool_name=pool, body=UpdateElasticResourcePoolRequestBody(min_cu=256))),
        400, "DLI.0001", says="min_cu")


def test_queue_action_cidr_and_properties_through_the_sdk(dli):
    name = queue_name()
    create_queue(dli, name, cu_count=16)

    scaled = dli.run_queue_action(RunQueueActionRequest(
        queue_name=name, body=RunQueueActionRequestBody(action="scale_out", cu_count=32)))
    conforms(dli, "RunQueueAction", 200)
    assert (scaled.is_success, scaled.queue_name, scaled.result) == (True, name, True)
    assert dli.show_queue(ShowQueueRequest(queue_name=name)).cu_count == 48
    dli.run_queue_action(RunQueueActionRequest(
        queue_name=name, body=RunQueueActionRequestBody(action="scale_in", cu_count=16)))
    dli.run_queue_action(RunQueueActionRequest(
        queue_name=name, body=RunQueueActionRequestBody(action="restart", force=True)))
    assert dli.show_queue(ShowQueueRequest(queue_name=name)).cu_count == 32
    expect_error(dli, lambda: dli.run_queue_action(RunQueueActionRequest(
        queue_name=name, body=RunQueueActionRequestBody(action="scale_in", cu_count=32))),
        400, "DLI.0001", says="32")
    expect_error(dli, lambda: dli.run_queue_action(RunQueueActionRequest(
        queue_name=name, body=RunQueueActionRequestBody(action="explode"))), 400, "DLI.0001")

    cidr = dli.update_queue_cidr(UpdateQueueCidrRequest(
        queue_name=name, body=UpdateQueueCidrRequestBody(cidr_in_vpc="192.168.16.0/20")))
    assert cidr.is_success is True
    (listed,) = [q for q in list_queues(dli, queue_type="all").queues if q.queue_name == name]
    assert listed.cidr_in_vpc == "192.168.16.0/20"
    expect_error(dli, lambda: dli.update_queue_cidr(UpdateQueueCidrRequest(
        queue_name=name, body=UpdateQueueCidrRequestBody(cidr_in_vpc="8.8.0.0/16"))),
        400, "DLI.0001", says="cidr_in_vpc")

    added = dli.create_queue_property(CreateQueuePropertyRequest(
        queue_name=name, body=CreateQueuePropertyRequestBody(properties=CommonQueueProperty(
            compute_engine_max_instance=2, job_max_concurrent=8, compute_engine_max_prefetch_instance=1))))
    conforms(dli, "CreateQueueProperty", 200)
    assert added.is_success is True
    dli.update_queue_property(UpdateQueuePropertyRequest(
        queue_name=name, body=UpdateQueuePropertyRequestBody(properties=AdvancedQueueProperty(
            job_max_concurrent=16, compute_engine_spark_native_enabled="true"))))
    properties = dli.list_queue_properties(ListQueuePropertiesRequest(queue_name=name))
    # Not validated here: the definition's enum of keys says `computeEngine.maxInstances`,
    # where its own example, the request schema and Terraform say `computeEngine.maxInstance`.
    assert {p.key: p.value for p in properties.properties} == {
        "computeEngine.maxInstance": "2", "job.maxConcurrent": "16",
        "computeEngine.maxPrefetchInstance": "1", "computeEngine.spark.nativeEnabled": "true"}
    removed = dli.delete_queue_property(DeleteQueuePropertyRequest(
        queue_name=name, body=DeleteQueuePropertyRequestBody(
            keys=["computeEngine.maxInstance", "computeEngine.maxPrefetchInstance"])))
    conforms(dli, "DeleteQueueProperty", 200)
    assert removed.is_success is True
    page = dli.list_queue_properties(ListQueuePropertiesRequest(queue_name=name, offset=1, limit=1))
    conforms(dli, "ListQueueProperties", 200)
    assert [p.key for p in page.properties] == ["computeEngine.spark.nativeEnabled"]
    expect_error(dli, lambda: dli.list_queue_properties(ListQueuePropertiesRequest(queue_name="nope")),
                 400, "DLI.0002")
    conforms(dli, "ListQueueProperties", 400)


def test_quotas_and_the_agency_through_the_sdk(dli):
    create_queue(dli, queue_name())
    quotas = dli.show_quota(ShowQuotaRequest())
    kinds = {r.type: r for r in quotas.quotas.resources}
    assert {"CU", "QUEUE", "ELASTIC_RESOURCE_POOL", "DSCONN_CONNECTION",
            "DSCONN_ENHANCED_CONNECTION", "DSCONN_AUTH_INFO"} <= set(kinds)
    assert (kinds["QUEUE"].used, kinds["QUEUE"].quota) == (1, 1000)
    assert kinds["ELASTIC_RESOURCE_POOL"].used == 0

    before = dli.show_dli_agency(ShowDliAgencyRequest())
    conforms(dli, "ShowDliAgency", 200)
    assert before.current_roles == []
    created = dli.create_dli_agency(CreateDliAgencyRequest(
        body=CreateDliAgencyRequestBody(roles=["obs_adm", "vpc_netadm"])))
    conforms(dli, "CreateDliAgency", 200)
    assert created.is_success is True
    shown = dli.show_dli_agency(ShowDliAgencyRequest())
    assert (shown.current_roles, shown.version) == (["obs_adm", "vpc_netadm"], "v2")
    expect_error(dli, lambda: dli.create_dli_agency(CreateDliAgencyRequest(
        body=CreateDliAgencyRequestBody(roles=["not a role"]))), 400, "DLI.0001", says="roles")
    conforms(dli, "CreateDliAgency", 400)
