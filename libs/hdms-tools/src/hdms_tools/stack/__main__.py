from .cli import main
from .config import cli

cli(main)
