"""Launch the welding cell from its cell description: the twin (when any device is
twin-backed) and the nodes (the six of the cell and the northbound `mes` server when the
description has one), as `cellctl shift` starts them.

    ros2 launch cell_controller cell.launch.py
    ros2 launch cell_controller cell.launch.py cell_config:=/path/cell.yaml parts:=5 auto_start:=false hmi:=true

Which devices the twin serves comes from `backend: twin|real` per device of the
description. ROS_DOMAIN_ID is set from cell.domain_id unless the environment has one.
A bad description or argument, an unreachable real device or a twin port in use fails
the launch with a message naming the file and key (nothing is started). When any
process exits, the whole cell shuts down, as with cellctl, except the operator page (`hmi:=true`, at
hmi.bind of the description): its end is logged and the cell runs on.
"""
from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.action import Action
from launch.actions import (
    DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction, SetEnvironmentVariable, Shutdown,
)
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import ExecutableInPackage

from cell_controller.preflight import preflight
from cell_controller.launch_plan import PACKAGE, launch_plan, parse_flag, parse_parts


def _cell(context: LaunchContext) -> list[Action]:
    """The actions for the cell description named by the launch arguments."""
    plan = launch_plan(LaunchConfiguration("cell_config").perform(context),
                       parse_parts(LaunchConfiguration("parts").perform(context)), context.environment,
                       parse_flag("auto_start", LaunchConfiguration("auto_start").perform(context)),
                       parse_flag("hmi", LaunchConfiguration("hmi").perform(context)))
    preflight(plan.config)
    actions: list[Action] = [SetEnvironmentVariable(name, value) for name, value in plan.environment.items()]
    for server in (plan.twin, plan.plant):
        if server is not None:
            actions.append(ExecuteProcess(
                cmd=[ExecutableInPackage(server.executable, PACKAGE), *server.arguments], name=server.name,
                output="screen", on_exit=Shutdown(reason=f"the {server.name} exited")))
    actions += [
        Node(package=PACKAGE, executable=node.executable, name=node.name, namespace=node.namespace,
             parameters=[node.parameters], output="screen",
             on_exit=Shutdown(reason=f"{node.name} exited") if node.essential
             else LogInfo(msg=f"{node.name} exited; the cell runs on"))
        for node in plan.nodes
    ]
    return actions


def generate_launch_description() -> LaunchDescription:
    default_config = Path(get_package_share_directory(PACKAGE)) / "config" / "cell.yaml"
    return LaunchDescription([
        DeclareLaunchArgument("cell_config", default_value=str(default_config),
                              description="the cell description (YAML)"),
        DeclareLaunchArgument("parts", default_value="0",
                              description="parts to make this shift; 0: cell.parts_per_shift of cell_config"),
        DeclareLaunchArgument("auto_start", default_value="true",
                              description="false: wait for Reset and Start from an operator or the MES"),
        DeclareLaunchArgument("hmi", default_value="false",
                              description="true: serve the operator page too (hmi.bind of cell_config)"),
        OpaqueFunction(function=_cell),
    ])
