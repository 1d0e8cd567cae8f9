"""Settings of the standalone Flink cluster the local runner starts, and of job submission."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from schemas.settings import settings_config


class FlinkSettings(BaseSettings):
    """The standalone Flink cluster started from the distribution inside PyFlink."""

    model_config = settings_config("FLINK_")

    rest_port: int = Field(0, description="JobManager REST/web port; 0 = a free port")
    rpc_port: int = Field(0, description="JobManager RPC port; 0 = a free port")
    taskmanagers: int = Field(2, ge=1, description="TaskManagers started by the runner")
    slots_per_taskmanager: int = Field(1, ge=1, description="task slots of each TaskManager")
    parallelism: int = Field(2, ge=1, description="default parallelism of submitted jobs")
    jobmanager_memory: str = Field("1024m", description="total process memory of the JobManager")
    taskmanager_memory: str = Field("1280m", description="total process memory of each TaskManager")
    data_dir: Path = Field(Path("var/flink"), description="generated config, logs, checkpoints")
    connector_jars_dir: Path = Field(Path(".cache/jars/flink"), description="connector jars")
    start_timeout_s: float = Field(90.0, description="how long to wait for the TaskManagers to register")
