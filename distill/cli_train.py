# PLACEHOLDER: replaced by the student-training work (issue 4).
import click
@click.command()
def train():
    """(in progress)"""
@click.command()
def evaluate():
    """(in progress)"""
