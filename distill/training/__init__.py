"""The student learns the teacher's labels: its configuration, model loading, the trainers and the job."""
