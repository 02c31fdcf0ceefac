//! The models room: the teacher's text model (all-MiniLM-L6-v2 in burn) and its token-table
//! distillation, the teacher, and the training loop of teacher and students.

pub mod bert;
pub mod model2vec;
pub mod teacher;
pub mod trainer;
