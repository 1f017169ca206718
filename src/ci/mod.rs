//! CI adapter: reads each CI system's variables, builds the per-job docker config, renders the
//! exported variables for each shell. Must not import `registry`, `git`, `cleanup`, `app`, `cli`.
