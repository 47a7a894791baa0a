//! The worker role: fetches a chunk from HubSpot page by page, maps it and writes it
//! with the chunk's progress in one transaction, then acknowledges the job.
