//! Workloads: the job model and readers that turn job files and traces into group requests.
