"""cell_controller: an ament_python ROS 2 package that is pip-installable too.

The folders `sim/` and `policies/` install as `cell_controller.sim` and
`cell_controller.policies`, so that generic top-level names such as `sim`
never collide with other installed packages.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "cell_controller"


def _packages() -> list[str]:
    own = [p for p in find_packages(include=[PACKAGE, f"{PACKAGE}.*"])]
    sim = [f"{PACKAGE}.sim"] + [f"{PACKAGE}.sim.{p}" for p in find_packages("sim")]
    policies = [f"{PACKAGE}.policies"] + [f"{PACKAGE}.policies.{p}" for p in find_packages("policies")]
    return own + sim + policies


#: console script -> node entry point (module:function under cell_controller.nodes)
NODES = {
    "cell-robot-bridge": "bridge:robot_main",
    "cell-welder-bridge": "bridge:welder_main",
    "cell-machine-bridge": "bridge:machine_main",
    "cell-feeder-bridge": "bridge:feeder_main",
    "cell-supervisor": "supervisor:main",
    "cell-policy": "policy:main",
    "cell-mes": "mes:main",
    "cell-inspection": "inspection:main",
    "cell-hmi": "hmi:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Closed-loop controller and digital twin for an autonomous robotic welding cell",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=_packages(),
    package_dir={
        f"{PACKAGE}.sim": "sim",
        f"{PACKAGE}.policies": "policies",
    },
    package_data={
        f"{PACKAGE}.sim.twin": ["urdf/*.urdf"],
        f"{PACKAGE}.policies": ["hyperparams/*.yml", "shipped/*"],
        f"{PACKAGE}.hmi": ["index.html", "static/*.*", "static/vendor/*"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/mappings", glob("config/mappings/*.yaml")),
    ],
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "numba>=0.59",
        "pybullet>=3.2.6",
        "asyncua>=2.1",
        "argon2-cffi>=23.1",
        "cyclonedds>=11.0",
        "rosbags>=0.11",
        "pyyaml>=6",
        "rich>=13",
        "matplotlib>=3.7",
        "pycountry>=23",  # ISO 4217 currencies of the costs: section
        "pandas>=2.0",  # cellctl export and the compare tables
        "pyarrow>=14",  # cellctl export --format parquet
        "scikit-learn>=1.9,<1.10",  # the weld inspection model (policies/inspection.py): pickled with 1.9
        "threadpoolctl>=3",  # its trees on one OpenMP thread while judging a weld
        "starlette>=0.40",  # the operator page (cell_controller/hmi)
        "uvicorn>=0.30",
        "websockets>=12",  # uvicorn's WebSocket protocol
    ],
    extras_require={
        "rl": ["gymnasium>=1.0", "stable-baselines3>=2.3", "tqdm>=4.60", "tensorboard>=2.10"],
        # playwright drives Debian's chromium (make test installs it) in the operator page's tests; httpx is
        # Starlette's test client
        "test": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6", "playwright>=1.45", "httpx>=0.27"],
        "bench": ["panda-gym>=3.0.7"],  # the peer of bench/bench_twin.py
        # --ray of cellctl train (sweeps as Ray Tune trials) and cellctl evaluate (joints as Ray tasks)
        "ray": ["ray[tune]>=2.40"],
    },
    entry_points={
        "console_scripts": [f"cellctl = {PACKAGE}.cli:main"]
        + [f"{script} = {PACKAGE}.nodes.{target}" for script, target in NODES.items()]
        + [f"cell-twin = {PACKAGE}.sim.devices.twin_server:main"],
    },
)
