# PLACEHOLDER: replaced by the export work (issue 5).
import click
@click.group()
def export():
    """(in progress)"""
@click.command()
def predict():
    """(in progress)"""
