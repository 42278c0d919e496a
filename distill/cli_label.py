# PLACEHOLDER: replaced by the labelling work (issue 3).
import click
@click.command()
def label():
    """(in progress)"""
