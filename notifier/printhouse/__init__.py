"""The print hand-over: letters spooled, claimed into daily batches, handed to the print house
(a folder or SFTP), and moved on by its reports of what was posted or returned."""
