"""cell_controller: closed-loop controller and digital twin for a robotic welding cell."""
__version__ = "0.1.0"
