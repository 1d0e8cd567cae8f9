"""deploy/k8s/: every manifest parses and names itself, the kustomization lists what exists, the
FlinkDeployments validate against the operator's CRD schema, the forecast job reads the profiles
its nightly CronJob learns, the Strimzi resources are KRaft with node pools, and the topics are
those of connectors/kafka/topics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import JOB_OUTPUTS, RAW_TOPICS
from pipeline.cli import build_parser
from pipeline.commands.forecast import learn
from pipeline.runtime import FORECAST_JOB_SCRIPT, JOB_SCRIPT
from pipeline.settings import ALL_SETTINGS
from schemas.ports import SHENZHEN_TZ

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
FLINK_DEPLOYMENT_SCHEMA = K8S / "schemas" / "flinkdeployment.flink.apache.org-v1beta1.json"


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def resources() -> list[dict]:
    """Every resource the kustomization applies."""
    return [document for name in KUSTOMIZATION["resources"] for document in documents(K8S / name)]


def of_kind(kind: str) -> list[dict]:
    return [resource for resource in resources() if resource["kind"] == kind]


def settings_variables() -> set[str]:
    return {f"{cls.model_config['env_prefix']}{name}".upper() for cls in ALL_SETTINGS for name in cls.model_fields}


# kustomizeconfig.yaml configures a kustomize transformer: it is no Kubernetes object
MANIFESTS = sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomizeconfig.yaml")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_document_parses_and_names_itself(path):
    parsed = documents(path)
    assert parsed, f"{path.name} holds no document"
    for document in parsed:
        assert document.get("apiVersion") and document.get("kind"), f"{path.name}: no apiVersion or kind"
        if document["kind"] != "Kustomization":
            assert document.get("metadata", {}).get("name"), f"{path.name}: a {document['kind']} without a name"


def test_kustomization_lists_files_that_exist_and_leaves_no_manifest_out():
    listed = [
        *KUSTOMIZATION["resources"],
        *KUSTOMIZATION.get("configurations", []),
        *(env for generator in KUSTOMIZATION.get("configMapGenerator", []) for env in generator["envs"]),
    ]
    missing = [name for name in listed if not (K8S / name).is_file()]
    assert not missing, missing
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml", "kustomizeconfig.yaml"}
    # the example Secret is applied by hand, once filled in, never by the kustomization
    assert manifests - set(KUSTOMIZATION["resources"]) == {"secret.example.yaml"}


def test_names_are_unique_per_kind():
    seen = [(resource["kind"], resource["metadata"]["name"]) for resource in resources()]
    assert len(seen) == len(set(seen))


def unknown_fields(instance: object, schema: dict, path: str = "") -> list[str]:
    """Fields of `instance` that a structural schema does not declare (the API server prunes
    them or, with strict field validation, rejects them); jsonschema alone lets them pass."""
    if isinstance(instance, dict) and schema.get("type") == "object":
        properties, extra = schema.get("properties"), schema.get("additionalProperties")
        if properties is None:
            return [
                f
                for key, value in instance.items()
                for f in (unknown_fields(value, extra, f"{path}/{key}") if isinstance(extra, dict) else [])
            ]
        found = [f"{path}/{key}" for key in instance if key not in properties]
        return found + [
            f
            for key, value in instance.items()
            if key in properties
            for f in unknown_fields(value, properties[key], f"{path}/{key}")
        ]
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [
            f for index, item in enumerate(instance) for f in unknown_fields(item, schema["items"], f"{path}/{index}")
        ]
    return []


def flink_version_of_pyproject() -> str:
    """v2_2 for apache-flink==2.2.x: the FlinkDeployment's flinkVersion for the pinned PyFlink."""
    major, minor = re.search(r'"apache-flink==(\d+)\.(\d+)\.\d+"', (REPO / "pyproject.toml").read_text()).groups()
    return f"v{major}_{minor}"


def named(kind: str, name: str) -> dict:
    (resource,) = [resource for resource in of_kind(kind) if resource["metadata"]["name"] == name]
    return resource


@pytest.fixture(scope="module")
def flink_deployment() -> dict:
    return named("FlinkDeployment", "crossings")


@pytest.fixture(scope="module")
def forecast_deployment() -> dict:
    return named("FlinkDeployment", "crossings-forecast")


def job_options(deployment: dict) -> dict[str, str]:
    """The job script's options (after `-py SCRIPT`) as a dict."""
    args = deployment["spec"]["job"]["args"]
    return dict(zip(args[2::2], args[3::2]))


def test_the_kustomization_runs_the_crossings_and_the_forecast_jobs():
    assert sorted(deployment["metadata"]["name"] for deployment in of_kind("FlinkDeployment")) == [
        "crossings",
        "crossings-forecast",
    ]


@pytest.mark.parametrize("name", ["crossings", "crossings-forecast"])
def test_flink_deployment_validates_against_the_operator_crd_schema(name):
    flink_deployment = named("FlinkDeployment", name)
    schema = json.loads(FLINK_DEPLOYMENT_SCHEMA.read_text())
    version = schema["properties"]["spec"]["properties"]["flinkVersion"]
    assert "v1_20" in version["enum"]
    # the vendored CRD predates Flink 2 (schemas/README.md): it gains the version we target
    assert flink_deployment["spec"]["flinkVersion"] == flink_version_of_pyproject()
    version["enum"].append(flink_version_of_pyproject())
    errors = sorted(Draft7Validator(schema).iter_errors(flink_deployment), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    # apiVersion, kind and metadata are the API server's own, outside the CRD's schema
    assert not unknown_fields(flink_deployment["spec"], schema["properties"]["spec"], "/spec")


def test_unknown_fields_are_found():
    """The structural check above finds a misspelt field where jsonschema does not."""
    schema = json.loads(FLINK_DEPLOYMENT_SCHEMA.read_text())
    misspelt = {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": "x"},
        "spec": {"job": {"jarURI": "local:///x.jar", "upgradeMod": "savepoint"}},
    }
    assert not list(Draft7Validator(schema).iter_errors(misspelt))
    assert unknown_fields(misspelt["spec"], schema["properties"]["spec"], "/spec") == ["/spec/job/upgradeMod"]


@pytest.mark.parametrize(("name", "script"), [("crossings", JOB_SCRIPT), ("crossings-forecast", FORECAST_JOB_SCRIPT)])
def test_flink_deployment_runs_the_python_job_with_savepoint_upgrades(name, script):
    flink_deployment = named("FlinkDeployment", name)
    spec = flink_deployment["spec"]
    job = spec["job"]
    assert flink_deployment["apiVersion"] == "flink.apache.org/v1beta1"
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    # the image holds the repository in /opt/crossings (deploy/compose/Dockerfile)
    assert job["args"][:2] == ["-py", f"/opt/crossings/{script.relative_to(REPO)}"]
    assert job["upgradeMode"] == "savepoint"
    # the jar of jarURI is the link the image makes to its flink-python jar
    dockerfile = (REPO / "deploy" / "compose" / "Dockerfile").read_text()
    assert f"ln -s /opt/flink/opt/flink-python-*.jar {job['jarURI'].removeprefix('local://')}" in dockerfile
    assert int(job_options(flink_deployment)["--parallelism"]) == job["parallelism"]
    assert job_options(flink_deployment)["--bootstrap"] == settings_env()["KAFKA_BOOTSTRAP_SERVERS"]
    config = spec["flinkConfiguration"]
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
        assert config[key].startswith("file:///flink-data/"), key


@pytest.mark.parametrize("name", ["crossings", "crossings-forecast"])
def test_checkpoints_go_to_the_shared_volume(name):
    settings = settings_env()
    pod = named("FlinkDeployment", name)["spec"]["podTemplate"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    assert settings["PIPELINE_CHECKPOINT_DIR"].startswith(mount["mountPath"] + "/")
    claim = next(volume for volume in pod["volumes"] if volume["name"] == mount["name"])["persistentVolumeClaim"]
    pvc = next(r for r in of_kind("PersistentVolumeClaim") if r["metadata"]["name"] == claim["claimName"])
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]


def mounted_claims(pod: dict, container: dict) -> dict[str, str]:
    """Mount path -> PersistentVolumeClaim name of a container's volumes."""
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in pod["volumes"]}
    return {mount["mountPath"]: claims[mount["name"]] for mount in container["volumeMounts"]}


def test_the_forecast_job_reads_the_profiles_its_cronjob_learns(forecast_deployment, flink_deployment):
    """The CronJob writes PIPELINE_FORECAST_PROFILE on the claim where the forecast job's
    driver (on its JobManager) reads --profile: the crossings job's shared volume."""
    profile = settings_env()["PIPELINE_FORECAST_PROFILE"]
    assert job_options(forecast_deployment)["--profile"] == profile
    job_pod = forecast_deployment["spec"]["podTemplate"]["spec"]
    cron_pod = named("CronJob", "crossings-forecast-learn")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job_container,) = job_pod["containers"]
    (cron_container,) = cron_pod["containers"]
    job_claims, cron_claims = mounted_claims(job_pod, job_container), mounted_claims(cron_pod, cron_container)
    (job_path,) = [path for path in job_claims if profile.startswith(path + "/")]
    (cron_path,) = [path for path in cron_claims if profile.startswith(path + "/")]
    assert job_claims[job_path] == cron_claims[cron_path]
    crossings_pod = flink_deployment["spec"]["podTemplate"]["spec"]
    (crossings_container,) = crossings_pod["containers"]
    assert job_claims[job_path] in mounted_claims(crossings_pod, crossings_container).values()
    # the image's flink user writes and reads the volume's files
    assert cron_pod["securityContext"]["fsGroup"] == job_pod["securityContext"]["fsGroup"]


def test_the_profiles_are_learnt_each_night_after_the_shenzhen_day():
    cron = named("CronJob", "crossings-forecast-learn")
    assert cron["spec"]["timeZone"] == SHENZHEN_TZ.key
    minute, hour, *days = cron["spec"]["schedule"].split()
    assert days == ["*", "*", "*"], "not every day"
    # within the first hour of the local day: `learn` ends its range at yesterday, now complete
    assert hour == "0" and 0 <= int(minute) < 60
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][0] == "crossings"
    assert build_parser().parse_args(container["command"][1:]).handler is learn


def test_kafka_runs_in_kraft_mode_with_node_pools():
    (kafka,) = of_kind("Kafka")
    pools = of_kind("KafkaNodePool")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"] == {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}
    assert "zookeeper" not in kafka["spec"]
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    for pool in pools:
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    brokers = sum(pool["spec"]["replicas"] for pool in pools if "broker" in pool["spec"]["roles"])
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] < config["default.replication.factor"] <= brokers
    assert (
        config["transaction.max.timeout.ms"] == KafkaSettings.model_fields["transaction_max_timeout_s"].default * 1000
    )
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert (
        settings_env()["KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    )


def test_topics_are_those_of_the_project():
    (kafka,) = of_kind("Kafka")
    topics = {topic["spec"]["topicName"]: topic for topic in of_kind("KafkaTopic")}
    specs = {spec.name: spec for spec in [*RAW_TOPICS.values(), *JOB_OUTPUTS]}
    assert set(topics) == set(specs)
    brokers = sum(pool["spec"]["replicas"] for pool in of_kind("KafkaNodePool"))
    for name, spec in specs.items():
        topic = topics[name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["spec"]["partitions"] == spec.partitions, name
        assert topic["spec"]["replicas"] <= brokers
        assert {key: value for key, value in topic["spec"]["config"].items() if key in spec.config} == spec.config, name


def settings_env() -> dict[str, str]:
    (generator,) = KUSTOMIZATION["configMapGenerator"]
    (path,) = generator["envs"]
    lines = (K8S / path).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_settings_are_named_as_in_env_example():
    root = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    names = set(settings_env())
    assert names <= settings_variables() and names <= root, sorted(names - settings_variables())


def containers(resource: dict) -> list[dict]:
    if resource["kind"] == "FlinkDeployment":
        return resource["spec"]["podTemplate"]["spec"]["containers"]
    spec = resource.get("spec", {})
    pod = (spec["jobTemplate"]["spec"] if resource["kind"] == "CronJob" else spec).get("template", {}).get("spec")
    return [*pod.get("initContainers", []), *pod["containers"]] if pod else []


def test_secrets_are_referenced_and_the_example_has_placeholders_only():
    (example,) = documents(K8S / "secret.example.yaml")
    assert example["kind"] == "Secret"
    assert set(example["stringData"].values()) == {"CHANGE_ME"}
    referenced = set()
    for resource in resources():
        assert resource["kind"] != "Secret", "a Secret is filled in the manifests"
        for container in containers(resource):
            for variable in container.get("env", []):
                if "value" in variable:
                    assert not re.search("PASSWORD|TOKEN|HMAC", variable["name"]), (
                        f"{variable['name']} written in clear"
                    )
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    assert reference["name"] == example["metadata"]["name"]
                    referenced.add(reference["key"])
    assert referenced, "no secret referenced"
    assert referenced <= set(example["stringData"]), sorted(referenced - set(example["stringData"]))


def test_pipeline_containers_use_the_crossings_image_and_its_settings():
    images = {image["name"] for image in KUSTOMIZATION["images"]}
    config_maps = {generator["name"] for generator in KUSTOMIZATION["configMapGenerator"]}
    crossings = [c for r in resources() for c in containers(r) if c.get("image") == "crossings"]
    assert {"loader", "alerts", "migrate", "forecast-learn"} <= {c["name"] for c in crossings} and "crossings" in images
    for container in crossings:
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps
        for command in container.get("command", [])[:1]:
            assert command in ("crossings", "sh")
    assert all(flink["spec"]["image"] in images for flink in of_kind("FlinkDeployment"))
    configuration = yaml.safe_load((K8S / KUSTOMIZATION["configurations"][0]).read_text())
    assert {"path": "spec/image", "kind": "FlinkDeployment"} in configuration["images"]
