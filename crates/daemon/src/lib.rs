//! kubewired: the privileged service that applies Plans to the tunnel and DNS, persists what it
//! changed and undoes it. Lands with the connect issue; empty until then.
